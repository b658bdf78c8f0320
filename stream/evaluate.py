"""``pagepilot evaluate``: the worker's learning code over a file, in one process, no Kafka.

The worker's own learning step (:class:`stream.shard.Shard`, as for one input partition),
applied in stream order. Sessions still open at the end of the file are closed (their
terminal steps learned).
"""

from __future__ import annotations

import time
from typing import Iterable

from stream.clusters import PageClusterer
from stream.learning.cluster import MODEL_NAMES, ClusterLearner, ClusterValue, LearningConfig
from stream.learning.prequential import WindowedScore
from stream.models import PageView
from stream.shard import Shard


class StreamEvaluator:
    """Learns from page views one by one, as one shard, and keeps the prequential scores."""

    def __init__(self, config: LearningConfig, clusterer: PageClusterer,
                 session_timeout_s: float = 1800.0, window: int = 1000):
        self.windows = {name: WindowedScore(window) for name in MODEL_NAMES}
        self.learner = ClusterLearner(config)
        self.shard = Shard(0, self.learner, int(session_timeout_s * 1000),
                           on_scored=lambda name, delta: self.windows[name].add(delta))
        self.clusterer = clusterer

    @property
    def events(self) -> int:
        return self.shard.offset + 1

    @property
    def values(self) -> dict[str, ClusterValue]:
        return self.shard.values

    @property
    def rows(self) -> dict:
        return self.shard.rows

    @property
    def model(self):
        return self.shard.model

    @property
    def sessions(self) -> dict:
        return self.shard.sessions

    def learn_one(self, view: PageView) -> None:
        cluster = self.clusterer.cluster_of(view.page_path, view.page_title)
        self.shard.apply(view, cluster, offset=self.events, ingest_time=0)

    def close_sessions(self) -> None:
        """End the sessions still open (their terminal steps learned)."""
        self.shard.close_all()

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
