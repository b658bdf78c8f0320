"""The first-order Markov policy: next-page counts per page cluster, learned online.

Each page cluster owns one :class:`NextPageCounts` row, kept on the partition of that
cluster. The row counts where sessions went next from the cluster (``EXIT`` when they
left the site), and recommends the most frequent next clusters.

>>> row = NextPageCounts()
>>> for nxt in ["cart", "cart", "drinkware", EXIT, "home"]:
...     row = row.learned(nxt, offset=len(nxt))
>>> row.total
5
>>> [(item.cluster, item.score) for item in row.recommend(current="home", top_k=2)]
[('cart', 0.4), ('drinkware', 0.2)]
"""

from __future__ import annotations

import dataclasses
import typing

from stream.models import RecommendedPage

EXIT = "(exit)"
POLICY_NAME = "markov"


@dataclasses.dataclass(frozen=True)
class NextPageCounts:
    """Counts of next page clusters seen after one cluster.

    ``offset`` is the highest offset of the steps partition already learned into this
    row: a step redelivered after a restart is recognised and not counted twice.
    """

    counts: typing.Mapping[str, int] = dataclasses.field(default_factory=dict)
    offset: int = -1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def learned(self, next_cluster: str, offset: int) -> "NextPageCounts":
        """A new row with one more transition to ``next_cluster`` (rows are never mutated)."""
        counts = dict(self.counts)
        counts[next_cluster] = counts.get(next_cluster, 0) + 1
        return NextPageCounts(counts=counts, offset=offset)

    def predict_proba_one(self) -> dict[str, float]:
        """Probability of each next cluster (``EXIT`` included)."""
        total = self.total
        return {cluster: n / total for cluster, n in self.counts.items()} if total else {}

    def recommend(self, current: str, top_k: int) -> list[RecommendedPage]:
        """The ``top_k`` most likely next clusters, the current one and ``EXIT`` excluded."""
        ranked = sorted(
            ((p, cluster) for cluster, p in self.predict_proba_one().items()
             if cluster not in (current, EXIT)),
            key=lambda pair: (-pair[0], pair[1]))
        return [RecommendedPage(cluster=c, score=round(p, 6)) for p, c in ranked[:top_k]]

    def to_json(self) -> dict:
        return {"counts": dict(self.counts), "offset": self.offset}

    @classmethod
    def from_json(cls, data: dict | None) -> "NextPageCounts":
        return cls(counts=data["counts"], offset=data["offset"]) if data else cls()
