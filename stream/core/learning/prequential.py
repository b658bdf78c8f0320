"""Prequential (predict, then learn) next-page metrics: top-1, HR@3, HR@5 and MRR.

Every model ranks the candidate next clusters *before* it learns the true one; a score
counts the hits. :class:`Score` is a small additive record, so scores of clusters and
workers are summed exactly; :class:`WindowedScore` adds a sliding window of recent events.

>>> score = Score().scored(["cart", "home", "bags"], truth="home")
>>> score = score.scored(["cart"], truth="search")
>>> score.as_dict()
{'events': 2, 'top1': 0.0, 'hr3': 0.5, 'hr5': 0.5, 'mrr': 0.25}
"""

from __future__ import annotations

import collections
import dataclasses

MRR_DEPTH = 10  # reciprocal ranks beyond this count as 0


@dataclasses.dataclass(frozen=True)
class Score:
    """Hit counts of one model over a stream of (ranking, truth) pairs."""

    events: int = 0
    top1: int = 0
    hr3: int = 0
    hr5: int = 0
    rr_sum: float = 0.0

    def scored(self, ranking: list[str], truth: str) -> "Score":
        return self.scored_at(_rank(ranking, truth))

    def scored_at(self, rank: int) -> "Score":
        """With one more event whose truth was ranked ``rank`` (1-based; 0: not ranked)."""
        return Score(events=self.events + 1, top1=self.top1 + (rank == 1),
                     hr3=self.hr3 + (0 < rank <= 3), hr5=self.hr5 + (0 < rank <= 5),
                     rr_sum=self.rr_sum + (1 / rank if 0 < rank <= MRR_DEPTH else 0.0))

    # Field by field: dataclasses.astuple deep-copies, and this runs several times per event.
    def __add__(self, other: "Score") -> "Score":
        return Score(self.events + other.events, self.top1 + other.top1,
                     self.hr3 + other.hr3, self.hr5 + other.hr5, self.rr_sum + other.rr_sum)

    def __sub__(self, other: "Score") -> "Score":
        return Score(self.events - other.events, self.top1 - other.top1,
                     self.hr3 - other.hr3, self.hr5 - other.hr5, self.rr_sum - other.rr_sum)

    def as_dict(self) -> dict:
        n = max(self.events, 1)
        return {"events": self.events, "top1": self.top1 / n, "hr3": self.hr3 / n,
                "hr5": self.hr5 / n, "mrr": self.rr_sum / n}

    def to_json(self) -> list:
        return [self.events, self.top1, self.hr3, self.hr5, self.rr_sum]

    @classmethod
    def from_json(cls, data: list | None) -> "Score":
        return cls(*data) if data else cls()


class WindowedScore:
    """A total :class:`Score` plus the same figures over the last ``window`` events."""

    def __init__(self, window: int = 1000):
        self.window = window
        self.total = Score()
        self._recent: collections.deque = collections.deque(maxlen=window)

    def add(self, delta: Score) -> None:
        """Count the events of ``delta`` (usually one) in the total and the window."""
        if delta.events:
            self.total += delta
            self._recent.append(delta)

    @property
    def recent(self) -> Score:
        return sum(self._recent, Score())


def rank_of(truth: str, scores: dict, exclude: tuple = ()) -> int:
    """1-based rank of ``truth`` among ``scores`` sorted by (-score, name), ``exclude`` left
    out; 0 when it is not there. The same as sorting, in one pass (it runs per event).

    >>> rank_of("b", {"a": 3, "b": 1, "c": 1}), rank_of("x", {"a": 3}), rank_of("a", {"a": 1})
    (2, 0, 1)
    """
    if truth not in scores or truth in exclude:
        return 0
    mine = scores[truth]
    return 1 + sum(1 for c, s in scores.items()
                   if (s > mine or (s == mine and c < truth)) and c not in exclude)


def _rank(ranking: list[str], truth: str) -> int:
    """1-based rank of ``truth`` in ``ranking``; 0 when it is not there."""
    try:
        return ranking.index(truth) + 1
    except ValueError:
        return 0
