"""The report's pass over the page views: the worker's learning code, a frozen policy, and
what that policy recommends on sessions it never learned from.

The page views run through :class:`stream.core.evaluate.StreamEvaluator` (the worker's
sessionizer, cluster learner and prequential scores) from start to end, so the accuracy
over time covers the whole stream. When the first session of the *evaluation part* (the
latest ``holdout`` share of sessions) starts, the policy is frozen: its rows, next-page model
and cluster values are copied. Every page view of an evaluation session is recorded with
the recommendations of that frozen policy, made by :func:`stream.core.policy.candidates` and
:func:`stream.core.policy.rank` as the worker makes them. The impact is estimated on those
sessions only, so the noise that chose the policy is not the noise that judges it.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Iterable

from stream.core.clusters import PageClusterer
from stream.core.evaluate import StreamEvaluator
from stream.core.learning.cluster import MODEL_NAMES, ClusterValue, LearningConfig
from stream.core.learning.features import ENTRANCE
from stream.core.learning.nextpage import NextPageModel
from stream.core.learning.prequential import Score
from stream.core.models import PageView
from stream.core.policy import recommend

TIMELINE_EVERY = 250  # page views between two points of the accuracy-over-time figure


@dataclasses.dataclass
class PageViews:
    """The evaluation sessions' page views, one entry per list and page view, in stream
    order; ``session`` numbers sessions as the sessionizer splits them."""

    session: list[int] = dataclasses.field(default_factory=list)
    event_id: list[str] = dataclasses.field(default_factory=list)
    hit: list[int] = dataclasses.field(default_factory=list)            # 1 = landing page
    previous: list[str] = dataclasses.field(default_factory=list)       # ENTRANCE on landing
    cluster: list[str] = dataclasses.field(default_factory=list)
    time_ms: list[int] = dataclasses.field(default_factory=list)
    revenue: list[float] = dataclasses.field(default_factory=list)
    recommended: list[tuple[str, ...]] = dataclasses.field(default_factory=list)  # top-k
    source: list[str] = dataclasses.field(default_factory=list)  # river, markov, popular, cold

    def __len__(self) -> int:
        return len(self.cluster)


@dataclasses.dataclass
class FrozenPolicy:
    """What the policy had learned when it was frozen, per cluster."""

    rows: dict
    model: NextPageModel
    values: dict[str, ClusterValue]
    events: int  # page views learned before freezing


@dataclasses.dataclass
class LearnedRun:
    """Everything the report needs from the learning pass."""

    timeline: list[tuple[int, dict[str, Score]]]  # (page views, total score per model)
    frozen: FrozenPolicy
    views: PageViews        # the evaluation sessions, with the frozen policy's answers
    final: dict             # StreamEvaluator.report of the whole stream
    learning_sessions: int
    evaluation_sessions: int


def learn(views: Iterable[PageView], n_sessions: int, holdout: float, config: LearningConfig,
          clusterer: PageClusterer, session_timeout_s: float = 1800.0,
          progress=None) -> LearnedRun:
    """Run the learning code over ``views`` (event-time order) and record the evaluation part.

    ``n_sessions`` is the number of distinct session ids in ``views``: the policy is frozen
    when session number ``round((1 - holdout) * n_sessions) + 1`` appears.
    """
    split = max(1, round((1.0 - holdout) * n_sessions))
    run = _Pass(config, clusterer, session_timeout_s)
    seen: set[str] = set()
    evaluated: set[str] = set()
    for view in views:
        if view.session_id not in seen:
            seen.add(view.session_id)
            if len(seen) == split + 1:
                run.freeze()
            if len(seen) > split:
                evaluated.add(view.session_id)
        run.learn_one(view, evaluated=view.session_id in evaluated)
        if progress is not None:
            progress.update(run.evaluator.events)
    return run.finish(learning_sessions=min(split, len(seen)),
                      evaluation_sessions=max(len(seen) - split, 0))


class _Pass:
    """The evaluator, the frozen policy and the records, kept while the page views go by."""

    def __init__(self, config: LearningConfig, clusterer: PageClusterer, timeout_s: float):
        self.evaluator = StreamEvaluator(config, clusterer, timeout_s)
        self.frozen: FrozenPolicy | None = None
        self.views = PageViews()
        self.timeline: list[tuple[int, dict[str, Score]]] = []
        self._numbers: dict[str, int] = {}  # session id -> number of its current session

    def freeze(self) -> None:
        ev = self.evaluator
        self.frozen = FrozenPolicy(rows=dict(ev.rows), model=copy.deepcopy(ev.model),
                                   values=dict(ev.values), events=ev.events)

    def learn_one(self, view: PageView, evaluated: bool) -> None:
        ev = self.evaluator
        ev.learn_one(view)
        if evaluated:
            self._record(view, ev.sessions[view.session_id])
        if ev.events % TIMELINE_EVERY == 0:
            self._timeline_point()

    def finish(self, **counts) -> LearnedRun:
        self.evaluator.close_sessions()
        self._timeline_point()
        if self.frozen is None:
            raise ValueError("no session is left to evaluate the policy on: "
                             "give more sessions or a larger held-out share")
        return LearnedRun(timeline=self.timeline, frozen=self.frozen, views=self.views,
                          final=self.evaluator.report(0.0), **counts)

    def _record(self, view: PageView, state) -> None:
        if state.hits == 1:  # a new session (or a session id restarted after a timeout)
            self._numbers[view.session_id] = len(self._numbers)
        items, source = self._recommend(state.cluster, state.features)
        views = self.views
        views.session.append(self._numbers[view.session_id])
        views.event_id.append(view.event_id)
        views.hit.append(state.hits)
        views.previous.append(state.features.get("previous", ENTRANCE))
        views.cluster.append(state.cluster)
        views.time_ms.append(view.timestamp)
        views.revenue.append(view.revenue)
        views.recommended.append(items)
        views.source.append(source)

    def _recommend(self, cluster: str, features: dict) -> tuple[tuple[str, ...], str]:
        """The frozen policy's top-k for a page view, as the worker would publish it."""
        frozen, learner = self.frozen, self.evaluator.learner
        row = frozen.rows.get(cluster) or learner.new_row()
        items, fallback = recommend(row, frozen.model, features, cluster, frozen.values,
                                    learner.config)[:2]
        return tuple(item["cluster"] for item in items), (fallback or "river") if items else "cold"

    def _timeline_point(self) -> None:
        ev = self.evaluator
        self.timeline.append((ev.events, {name: ev.windows[name].total for name in MODEL_NAMES}))


def accuracy_over_time(timeline: list[tuple[int, dict[str, Score]]],
                       window: int = 1000) -> list[dict]:
    """Each model's scores over the last ``window`` (or a few more) scored transitions, at
    every point of ``timeline``: differences of totals, which are cheap to keep.

    >>> a, b = Score().scored(["cart"], "cart"), Score().scored(["home"], "cart")
    >>> timeline = [(1, {"m": a}), (2, {"m": a + b}), (3, {"m": a + b + b})]
    >>> [(p["events"], p["m"]["top1"]) for p in accuracy_over_time(timeline, window=2)]
    [(2, 0.5), (3, 0.0)]
    """
    if not timeline:
        return []
    timeline = [(0, dict.fromkeys(timeline[0][1], Score())), *timeline]
    points, start = [], 0
    for events, totals in timeline:
        name = next(iter(totals))
        while (start + 1 < len(timeline)
               and totals[name].events - timeline[start + 1][1][name].events >= window):
            start += 1
        base = timeline[start][1]
        if totals[name].events - base[name].events >= window:
            points.append({"events": events} | {
                model: (score - base[model]).as_dict() for model, score in totals.items()})
    return points
