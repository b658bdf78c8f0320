"""The first-order Markov baseline: next-page counts per page cluster, learned online.

Each page cluster owns one :class:`NextPageCounts` per shard (summed over the shards to serve).
It counts where sessions went next from the cluster (``EXIT`` when they left the site):
the baseline the River classifier is measured against, the cold-start fallback, and the
visit counts of the Q-learning.

>>> row = NextPageCounts()
>>> for nxt in ["cart", "cart", "drinkware", EXIT, "home"]:
...     row = row.learned(nxt)
>>> row.total, row.exit_rate
(5, 0.2)
>>> row.ranking(exclude=("home", EXIT))
['cart', 'drinkware']
"""

from __future__ import annotations

import dataclasses
import typing

from stream.core.models import EXIT


@dataclasses.dataclass(frozen=True)
class NextPageCounts:
    """Counts of next page clusters seen after one cluster."""

    counts: typing.Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_rate(self) -> float:
        """Share of sessions that left the site from this cluster (bounce risk)."""
        return self.counts.get(EXIT, 0) / self.total if self.total else 0.0

    def learned(self, next_cluster: str) -> "NextPageCounts":
        """New counts with one more transition to ``next_cluster`` (never mutated)."""
        counts = dict(self.counts)
        counts[next_cluster] = counts.get(next_cluster, 0) + 1
        return NextPageCounts(counts=counts)

    def predict_proba_one(self, x: dict | None = None) -> dict[str, float]:
        """Probability of each next cluster (``EXIT`` included). ``x``, the features of the
        next-page models, is taken and not needed: these counts belong to one cluster."""
        total = self.total
        return {cluster: n / total for cluster, n in self.counts.items()} if total else {}

    def ranking(self, exclude: tuple = (EXIT,)) -> list[str]:
        """Next clusters, most frequent first."""
        return sorted((c for c in self.counts if c not in exclude),
                      key=lambda c: (-self.counts[c], c))

    def to_json(self) -> dict:
        return dict(self.counts)

    @classmethod
    def from_json(cls, data: dict | None) -> "NextPageCounts":
        return cls(counts=data or {})
