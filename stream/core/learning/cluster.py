"""Everything learned about one page cluster, and the one place that learns it.

Each shard (:class:`stream.core.shard.Shard`) keeps a :class:`ClusterRow` and a River model per
cluster, and a :class:`ClusterValue` per cluster (V(s), page value, exit rate, traffic),
which its Q-updates and the popularity baseline need; the policy reads the same values
merged over every shard. The worker, ``pagepilot evaluate`` and the report all learn through
the same :class:`ClusterLearner`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping

from stream.config import Settings
from stream.core.learning.markov import NextPageCounts
from stream.core.learning.nextpage import NextPageModel
from stream.core.learning.pagevalue import PageValueStats
from stream.core.learning.prequential import Score, rank_of
from stream.core.learning.qlearning import QRow
from stream.core.models import EXIT, Step

MODEL_NAMES = ("river", "markov", "popular")


@dataclasses.dataclass(frozen=True)
class ClusterValue:
    """What Q-targets and rankings need to know of a cluster."""

    value: float = 0.0        # V(s) = max_a Q(s, a)
    page_value: float = 0.0   # Google Analytics page value
    exit_rate: float = 0.0    # share of sessions that leave the site from here
    visitors: int = 0         # sessions that viewed the cluster (its unique pageviews)

    def to_json(self) -> list:
        return [self.value, self.page_value, self.exit_rate, self.visitors]

    @classmethod
    def from_json(cls, data: list | None) -> "ClusterValue":
        return cls(*data) if data else cls()


@dataclasses.dataclass(frozen=True)
class ClusterRow:
    """The learning state of one cluster (in one shard, or merged over all). A shard applies
    each input offset once, so a row needs no marks of its own against repeats."""

    q: QRow = dataclasses.field(default_factory=QRow)
    markov: NextPageCounts = NextPageCounts()
    page_value: PageValueStats = PageValueStats()
    scores: Mapping[str, Score] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {"q": self.q.to_json(), "markov": self.markov.to_json(),
                "page_value": self.page_value.to_json(),
                "scores": {name: score.to_json() for name, score in self.scores.items()}}

    @classmethod
    def from_json(cls, data: dict | None) -> "ClusterRow":
        if not data:
            return cls()
        return cls(q=QRow.from_json(data["q"]),
                   markov=NextPageCounts.from_json(data["markov"]),
                   page_value=PageValueStats.from_json(data["page_value"]),
                   scores={name: Score.from_json(s) for name, s in data["scores"].items()})

    def published(self) -> ClusterValue:
        return ClusterValue(value=self.q.value(), page_value=self.page_value.value,
                            exit_rate=self.markov.exit_rate,
                            visitors=self.page_value.unique_views)


def _setting(name: str):
    """The documented default of a setting: :class:`stream.config.Settings` is its one
    source, so a LearningConfig() learns as a worker started without configuration."""
    return next(field.default for field in dataclasses.fields(Settings) if field.name == name)


@dataclasses.dataclass(frozen=True)
class LearningConfig:
    """Hyperparameters of learning and of the policy, defaults from :mod:`stream.config`."""

    model: str = _setting("model")
    gamma: float = _setting("gamma")
    omega: float = _setting("q_omega")
    top_k: int = _setting("top_k")
    candidates: int = _setting("candidates")
    cold_start_min: int = _setting("cold_start_min")
    seed: int = 0


class ClusterLearner:
    """Applies steps to a cluster's row and model (predict, then learn) and times each model."""

    def __init__(self, config: LearningConfig):
        self.config = config
        self.seconds = {name: 0.0 for name in MODEL_NAMES}  # time spent per model

    def new_row(self, data: dict | None = None) -> ClusterRow:
        return ClusterRow.from_json(data)

    def new_model(self) -> NextPageModel:
        return NextPageModel(self.config.model, seed=self.config.seed)

    def learn_model(self, model: NextPageModel, step: Step) -> int:
        """River's rank of the step's label *before* learning it; then learn it."""
        started = time.perf_counter()
        rank = rank_of(step.learn_next, model.predict_proba_one(step.learn_features),
                       exclude=(EXIT,))
        model.learn_one(step.learn_features, step.learn_next)
        self.seconds["river"] += time.perf_counter() - started
        return rank

    def learn_row(self, row: ClusterRow, step: Step, river_rank: int | None,
                  values: Mapping[str, ClusterValue]) -> ClusterRow:
        """The row after ``step``: scores, Markov counts, Q-row and page value.

        A step that only serves (no label, no new visitor, no credit) changes nothing: the
        row is returned as it is.
        """
        if not (step.learn_next or step.first_view or step.credit):
            return row
        scores, markov, q = row.scores, row.markov, row.q
        label = step.learn_next
        if label is not None:
            if label != EXIT and river_rank is not None:
                scores = self._scored(scores, river_rank, markov, values, label)
            started = time.perf_counter()
            markov = markov.learned(label)
            self.seconds["markov"] += time.perf_counter() - started
            q = self._q_learned(q, step, values.get(label, ClusterValue()))
        page_value = row.page_value.viewed() if step.first_view else row.page_value
        if step.credit:
            page_value = page_value.credited_with(step.credit)
        return ClusterRow(q=q, markov=markov, page_value=page_value, scores=scores)

    def _scored(self, scores, river_rank, markov, values, label) -> dict:
        started = time.perf_counter()
        markov_rank = rank_of(label, markov.counts, exclude=(EXIT,))
        self.seconds["markov"] += time.perf_counter() - started
        started = time.perf_counter()
        popular_rank = _popular_rank(label, values)
        self.seconds["popular"] += time.perf_counter() - started
        ranks = {"river": river_rank, "markov": markov_rank, "popular": popular_rank}
        return {name: scores.get(name, Score()).scored_at(ranks[name]) for name in MODEL_NAMES}

    def _q_learned(self, q: QRow, step: Step, target: ClusterValue) -> QRow:
        terminal = step.learn_next == EXIT
        reward = 0.0 if terminal else target.page_value + step.learn_revenue
        return q.learned(step.learn_next, reward, target.value, terminal,
                         self.config.gamma, self.config.omega)


def _popular_rank(label: str, values: Mapping[str, ClusterValue]) -> int:
    """The rank of ``label`` in :func:`popular_ranking`, without sorting (0: not there)."""
    mine = values.get(label)
    if mine is None or not mine.visitors:
        return 0
    n = mine.visitors
    return 1 + sum(1 for c, v in values.items() if v.visitors > n or (v.visitors == n and c < label))


def popular_ranking(values: Mapping[str, ClusterValue]) -> list[str]:
    """Clusters by visitors, most visited first: the popularity baseline."""
    return sorted((c for c, v in values.items() if v.visitors),
                  key=lambda c: (-values[c].visitors, c))
