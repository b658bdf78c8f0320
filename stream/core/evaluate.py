"""``pagepilot evaluate``: the worker's learning code over a file, in one process, no Kafka.

The worker's own learning step (:class:`stream.core.shard.Shard`, as for one input partition),
applied in stream order. Sessions still open at the end of the file are closed (their
terminal steps learned). Beside the worker's model and baselines, ``pagepilot evaluate``
scores the field's session-based baselines (:mod:`stream.core.learning.baselines`) on the same
transitions, predict then learn, so a user sees the standard comparison on their own data,
and counts what the policy would recommend on every page view (:class:`Recommended`).
With an experiment, every page view is served under its session's variant and the
outcomes of the sessions are summed as the worker sums them (:mod:`stream.core.estimates`):
the A/B/n figures and the off-policy estimates on a user's own file, without Kafka.
"""

from __future__ import annotations

import collections
import time
from typing import Iterable

from stream.core import estimates
from stream.core.clusters import PageClusterer
from stream.core.experiments import Experiment
from stream.core.learning.baselines import SessionKNN, sequential_rules
from stream.core.learning.cluster import MODEL_NAMES, ClusterLearner, ClusterValue, LearningConfig
from stream.core.learning.prequential import Score, WindowedScore, rank_of
from stream.core.models import EXIT, PageView, Step
from stream.core.outcomes import outcome_draft
from stream.core.policy import recommend_under
from stream.core.sessions import expired
from stream.core.shard import Shard

BASELINES = {"sr": sequential_rules, "sknn": SessionKNN}  # evaluate only: not in the worker


class StreamEvaluator:
    """Learns from page views one by one, as one shard, and keeps the prequential scores."""

    def __init__(self, config: LearningConfig, clusterer: PageClusterer,
                 session_timeout_s: float = 1800.0, window: int = 1000,
                 compare: bool = False, experiment: Experiment | None = None):
        self.experiment = experiment or Experiment.single()  # greedy default policy
        self.tally = estimates.Tally() if experiment else None  # the outcomes, when given
        self.baselines = {name: make() for name, make in BASELINES.items()} if compare else {}
        self.recommended = Recommended() if compare else None
        self.windows = {name: WindowedScore(window) for name in (*MODEL_NAMES, *self.baselines)}
        self.seconds = dict.fromkeys(self.baselines, 0.0)
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
        if self.baselines:
            self._score_baselines(view, cluster)
        step = self.shard.apply(view, cluster, offset=self.events, ingest_time=0)
        if self.recommended is not None or self.tally is not None:
            items = self._recommend(step)
            if self.recommended is not None:
                self.recommended.add(step.cluster, items)
        self._tally_closed()

    def _recommend(self, step: Step) -> tuple[str, ...]:
        """The clusters the worker would recommend for the step (one shard: its own rows),
        drafted for its outcome when an experiment runs."""
        shard, config = self.shard, self.learner.config
        row = shard.rows.get(step.cluster) or self.learner.new_row()
        variant, served, counterfactuals = recommend_under(
            self.experiment, row, shard.model, step.features or {}, step.cluster,
            shard.values, config, (step.session_id, step.event_id))
        if self.tally is not None:
            record = {"event_id": step.event_id, "sequence": step.sequence,
                      "variant": variant.name, "cluster": step.cluster,
                      "items": served.items, "counterfactuals": counterfactuals}
            shard.outcomes.served(step.session_id, outcome_draft(record, variant.epsilon, row))
        return tuple(item["cluster"] for item in served.items)

    def _tally_closed(self) -> None:
        for outcomes in self.shard.take_closed():
            if self.tally is not None:
                self.tally.add_session(outcomes)

    def _score_baselines(self, view: PageView, cluster: str) -> None:
        """Each baseline ranks the page view's cluster from its session so far, then learns
        it: the transitions the worker's models are scored on (none at a session's start)."""
        state = self.shard.sessions.get(view.session_id)
        if state is None or expired(state, view.timestamp, self.shard.timeout_ms):
            return
        x = {"history": state.features["history"], "session": view.session_id}
        for name, baseline in self.baselines.items():
            started = time.perf_counter()
            rank = rank_of(cluster, baseline.predict_proba_one(x), exclude=(EXIT,))
            baseline.learn_one(x, cluster)
            self.seconds[name] += time.perf_counter() - started
            self.windows[name].add(Score().scored_at(rank))

    def close_sessions(self) -> None:
        """End the sessions still open (their terminal steps learned)."""
        self.shard.close_all()
        self._tally_closed()

    def report(self, seconds: float) -> dict:
        models = {}
        spent_by = self.learner.seconds | self.seconds
        for name in self.windows:
            total = self.windows[name].total
            spent = spent_by[name]
            models[name] = total.as_dict() | {
                "events_per_s": round(total.events / spent) if spent else None,
                "window": self.windows[name].recent.as_dict()}
        return {
            "events": self.events, "seconds": round(seconds, 2),
            "events_per_s": round(self.events / seconds) if seconds else None,
            "model": self.learner.config.model, "models": models,
            **({"recommended": self.recommended.report()} if self.recommended else {}),
            **({"experiment": estimates.figures(
                self.tally.sums, control=self.experiment.served[0].name)}
               if self.tally is not None else {}),
            "page_value": {c: round(v.page_value, 2) for c, v in self.values.items()
                           if v.page_value},
            "value": {c: round(v.value, 2) for c, v in self.values.items()},
        }


def evaluate(views: Iterable[PageView], config: LearningConfig, clusterer: PageClusterer,
             session_timeout_s: float = 1800.0, progress=None,
             experiment: Experiment | None = None) -> dict:
    """Run the learning code over ``views`` (in event-time order); return the report (with
    the ``experiment``'s figures from the outcomes of its sessions, when given)."""
    evaluator = StreamEvaluator(config, clusterer, session_timeout_s, compare=True,
                                experiment=experiment)
    started = time.perf_counter()
    for view in views:
        evaluator.learn_one(view)
        if progress is not None:
            progress.update(evaluator.events)
    evaluator.close_sessions()
    return evaluator.report(time.perf_counter() - started)


class Recommended:
    """The policy's recommendations counted per cluster: how varied they are."""

    def __init__(self):
        self.lists: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def add(self, cluster: str, items: tuple[str, ...]) -> None:
        self.lists[cluster][items] += 1

    def report(self, most_common: int = 3) -> dict:
        """Distinct clusters and lists recommended overall; per cluster its page views and
        most common lists with their counts."""
        lists = {items for counter in self.lists.values() for items in counter}
        return {"distinct_clusters": len({c for items in lists for c in items}),
                "distinct_lists": len(lists),
                "clusters": {cluster: {"page_views": sum(counter.values()),
                                       "lists": [[list(items), n] for items, n
                                                 in counter.most_common(most_common)]}
                             for cluster, counter in sorted(self.lists.items())}}
