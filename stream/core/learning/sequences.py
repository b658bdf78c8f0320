"""The default next-page model: three sequence experts, mixed per page by how well each
has predicted there, as one River classifier for all clusters of a shard.

Every expert reads ``x["history"]``, the clusters of the session so far, most recent first
(:func:`stream.core.learning.features.page_features`), so sparse clusters borrow nothing they
should not, and one model serves every cluster:

- :class:`Transitions`, first order (Markov): what came right after the current cluster.
- :class:`PairTransitions`, second order: what came after the last two clusters.
- :class:`SequentialRules` (SR; Ludewig and Jannach 2018): every cluster that followed one
  of the session's last ``steps`` clusters, weighted 1/distance, read from the rules of the
  last ``back`` clusters of the session (the older ones weighted 1/distance too).

:class:`SessionMixture` adds the experts' probabilities with weights learned per current
cluster from their decayed reciprocal ranks (prequential: scored before learning), with the
global weights as a prior, so it follows whichever expert predicts a cluster best. On the
real clickstreams of docs/learning.md it is at least as good as its best expert on the
sets tried, and better than Markov on each.

Scores only grow, so each row keeps its exact top ``TOP_K`` items as it learns: a
prediction reads a few short lists whatever the number of clusters. Learning ``EXIT``
(the end of a session) teaches the experts nothing: no page is recommended as an exit.

>>> model = SessionMixture()
>>> for _ in range(3):
...     model.learn_one({"history": ["home"]}, "bags")
...     model.learn_one({"history": ["bags", "home"]}, "cart")
>>> top = model.predict_proba_one({"history": ["bags", "home"]})
>>> max(top, key=top.get)
'cart'
"""

from __future__ import annotations

import math

from river import base

from stream.core.models import EXIT

TOP_K = 20  # items kept per row: HR@5 and MRR@10 need the first ten


class Row:
    """Scores of the items that followed one context, with their total and exact top items."""

    __slots__ = ("scores", "total", "top")

    def __init__(self):
        self.scores: dict[str, float] = {}
        self.total = 0.0
        self.top: list[str] = []  # by (-score, item), at most TOP_K

    def add(self, item: str, weight: float) -> None:
        scores, top = self.scores, self.top
        score = scores[item] = scores.get(item, 0.0) + weight
        self.total += weight
        if item in top:
            i = top.index(item)
        elif len(top) < TOP_K:
            top.append(item)
            i = len(top) - 1
        else:  # enters only by beating the last: nothing outside ever ranked above it
            last = top[-1]
            if not (score > scores[last] or (score == scores[last] and item < last)):
                return
            i = TOP_K - 1
        while i and (scores[top[i - 1]] < score
                     or (scores[top[i - 1]] == score and top[i - 1] > item)):
            top[i] = top[i - 1]
            i -= 1
        top[i] = item

    def proba(self, weight: float = 1.0) -> dict[str, float]:
        """The top items with their share of the row (times ``weight``)."""
        f = weight / self.total
        return {item: self.scores[item] * f for item in self.top}


class _RowsExpert(base.Classifier):
    """An expert that keeps one :class:`Row` per context of the history."""

    def __init__(self):
        self.rows: dict = {}

    @property
    def _multiclass(self) -> bool:
        return True

    def _add(self, context, item: str, weight: float) -> None:
        row = self.rows.get(context)
        if row is None:
            row = self.rows[context] = Row()
        row.add(item, weight)

    def _row_proba(self, context) -> dict[str, float]:
        row = self.rows.get(context)
        return row.proba() if row is not None else {}


class Transitions(_RowsExpert):
    """First order: the clusters that followed the current one."""

    def learn_one(self, x: dict, y: str) -> None:
        history = x.get("history")
        if history and y != EXIT:
            self._add(history[0], y, 1.0)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        history = x.get("history")
        return self._row_proba(history[0]) if history else {}


class PairTransitions(_RowsExpert):
    """Second order: the clusters that followed the last two."""

    def learn_one(self, x: dict, y: str) -> None:
        history = x.get("history")
        if history and len(history) > 1 and y != EXIT:
            self._add((history[1], history[0]), y, 1.0)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        history = x.get("history")
        return self._row_proba((history[1], history[0])) if history and len(history) > 1 else {}


class SequentialRules(_RowsExpert):
    """Rules ``a -> b`` for every ``b`` up to ``steps`` clusters after ``a``, weight 1/distance;
    predicts from the rules of the last ``back`` clusters of the session."""

    def __init__(self, steps: int = 10, back: int = 3):
        super().__init__()
        self.steps, self.back = steps, back

    def learn_one(self, x: dict, y: str) -> None:
        history = x.get("history")
        if not history or y == EXIT:
            return
        for distance, before in enumerate(history[:self.steps], start=1):
            self._add(before, y, 1.0 / distance)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        proba: dict[str, float] = {}
        for distance, before in enumerate((x.get("history") or ())[:self.back], start=1):
            row = self.rows.get(before)
            if row is not None:
                for item, p in row.proba(1.0 / distance).items():
                    proba[item] = proba.get(item, 0.0) + p
        return proba


class SessionMixture(base.Classifier):
    """The experts' probabilities, weighted per current cluster by their recent ranks.

    Parameters
    ----------
    eta
        Sharpness of the weights: ``exp(eta * (score - best) / sum of scores)``.
    decay
        Forgetting of a cluster's scores per labelled view of it.
    prior
        Weight, in labelled views, of the global scores in a cluster's own.
    """

    EXPERTS = ("transitions", "pairs", "rules")

    def __init__(self, eta: float = 8.0, decay: float = 0.98, prior: float = 5.0):
        self.eta, self.decay, self.prior = eta, decay, prior
        self.experts = (Transitions(), PairTransitions(), SequentialRules())
        self.scores: dict[str, list[float]] = {}  # cluster -> decayed reciprocal rank sums
        self.global_scores = [0.0] * len(self.experts)
        self._cached: tuple | None = None  # (history, expert probabilities) of the last x

    @property
    def _multiclass(self) -> bool:
        return True

    def weights(self, cluster: str) -> list[float]:
        """The experts' weights on ``cluster`` (they sum to 1)."""
        total = sum(self.global_scores)
        n = len(self.experts)
        prior = [s / total for s in self.global_scores] if total else [1.0 / n] * n
        own = self.scores.get(cluster)
        if own is None:
            return prior
        blended = [s + self.prior * p for s, p in zip(own, prior)]
        best, scale = max(blended), sum(blended) or 1.0
        raw = [math.exp(self.eta * (s - best) / scale) for s in blended]
        norm = sum(raw)
        return [w / norm for w in raw]

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        history = x.get("history")
        if not history:
            return {}
        proba: dict[str, float] = {}
        for weight, expert_proba in zip(self.weights(history[0]), self._experts_proba(history)):
            for item, p in expert_proba.items():
                proba[item] = proba.get(item, 0.0) + weight * p
        return proba

    def learn_one(self, x: dict, y: str) -> None:
        history = x.get("history")
        if not history or y == EXIT:
            return
        own = self.scores.get(history[0])
        if own is None:
            own = self.scores[history[0]] = [0.0] * len(self.experts)
        for i, expert_proba in enumerate(self._experts_proba(history)):
            reciprocal = _reciprocal_rank(y, expert_proba)
            own[i] = own[i] * self.decay + reciprocal
            self.global_scores[i] = self.global_scores[i] * 0.999 + reciprocal
        self._cached = None
        for expert in self.experts:
            expert.learn_one(x, y)

    def _experts_proba(self, history) -> list[dict[str, float]]:
        # Learning a label right after predicting it reads the same lists: compute them once.
        cached = self._cached
        if cached is not None and cached[0] == history:
            return cached[1]
        x = {"history": history}
        probas = [expert.predict_proba_one(x) for expert in self.experts]
        self._cached = (list(history), probas)
        return probas


def _reciprocal_rank(truth: str, proba: dict[str, float], depth: int = 10) -> float:
    """1/rank of ``truth`` in ``proba`` (ties by name), 0 beyond ``depth`` or absent."""
    mine = proba.get(truth)
    if mine is None:
        return 0.0
    rank = 1 + sum(1 for c, p in proba.items() if p > mine or (p == mine and c < truth))
    return 1.0 / rank if rank <= depth else 0.0
