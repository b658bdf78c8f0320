"""``pagepilot evaluate``: the worker's learning code over a file, in one process, no Kafka.

The same sessionizer, cluster learner and prequential scores as the worker, applied in
stream order, with the GlobalTable replaced by a dict that is always up to date. Sessions
still open at the end of the file are closed (their terminal steps learned).
"""

from __future__ import annotations

import time
from typing import Iterable

from stream.clusters import PageClusterer
from stream.learning.cluster import MODEL_NAMES, ClusterLearner, ClusterRow, ClusterValue, LearningConfig
from stream.learning.prequential import Score, WindowedScore
from stream.models import PageView, Step
from stream.sessions import SessionState, advance, exit_step, expired


class StreamEvaluator:
    """Learns from page views one by one and keeps the prequential scores."""

    def __init__(self, config: LearningConfig, clusterer: PageClusterer,
                 session_timeout_s: float = 1800.0, window: int = 1000):
        self.learner = ClusterLearner(config, clusterer.clusters)
        self.clusterer = clusterer
        self.timeout_ms = int(session_timeout_s * 1000)
        self.sessions: dict[str, SessionState] = {}
        self.rows: dict[str, ClusterRow] = {}
        self.models: dict = {}
        self.values: dict[str, ClusterValue] = {}
        self.windows = {name: WindowedScore(window) for name in MODEL_NAMES}
        self.events = 0
        self._last_sweep = 0

    def learn_one(self, view: PageView) -> None:
        cluster = self.clusterer.cluster_of(view.page_path, view.page_title)
        offset = self.events
        state, steps = advance(self.sessions.get(view.session_id), view, cluster,
                               offset=offset, ingest_time=0, timeout_ms=self.timeout_ms)
        self.sessions[view.session_id] = state
        self.events += 1
        for step in steps:
            self.apply(step)
        if view.timestamp - self._last_sweep >= self.timeout_ms / 4:
            self._last_sweep = view.timestamp
            self.close_sessions(lambda s: expired(s, view.timestamp, self.timeout_ms),
                                offset=offset, first_index=len(steps))

    def close_sessions(self, should_close=lambda state: True, offset: int | None = None,
                       first_index: int = 0) -> None:
        """Send the exits of the sessions to close, numbered after the steps of ``offset``
        (default: after every page view) as the worker's sweep does."""
        offset = self.events if offset is None else offset
        closing = [(s, state) for s, state in self.sessions.items() if should_close(state)]
        for index, (session_id, state) in enumerate(closing, start=first_index):
            self.apply(exit_step(session_id, state, 0, source=[0, offset, index]))
            del self.sessions[session_id]

    def apply(self, step: Step) -> None:
        """What learn_and_serve does with a step, minus offsets and Kafka."""
        row = self.rows.get(step.cluster) or self.learner.new_row()
        model = self.models.get(step.cluster) or self.learner.new_model()
        self.models[step.cluster] = model
        ranking = None
        if step.learn_next and step.learn_features is not None:
            ranking = self.learner.learn_model(model, step)
        before = row.scores
        row = self.learner.learn_row(row, step, ranking, self.values)
        for name, score in row.scores.items():
            self.windows[name].add(score - before.get(name, Score()))
        self.rows[step.cluster] = row
        self.values[step.cluster] = row.published()

    def report(self, seconds: float) -> dict:
        models = {}
        for name in MODEL_NAMES:
            total = self.windows[name].total
            spent = self.learner.seconds[name]
            models[name] = total.as_dict() | {
                "events_per_s": round(total.events / spent) if spent else None,
                "window": self.windows[name].recent.as_dict()}
        return {
            "events": self.events, "seconds": round(seconds, 2),
            "events_per_s": round(self.events / seconds) if seconds else None,
            "models": models,
            "page_value": {c: round(v.page_value, 2) for c, v in self.values.items()
                           if v.page_value},
            "value": {c: round(v.value, 2) for c, v in self.values.items()},
        }


def evaluate(views: Iterable[PageView], config: LearningConfig, clusterer: PageClusterer,
             session_timeout_s: float = 1800.0, progress=None) -> dict:
    """Run the learning code over ``views`` (in event-time order); return the report."""
    evaluator = StreamEvaluator(config, clusterer, session_timeout_s)
    started = time.perf_counter()
    for view in views:
        evaluator.learn_one(view)
        if progress is not None:
            progress.update(evaluator.events)
    evaluator.close_sessions()
    return evaluator.report(time.perf_counter() - started)
