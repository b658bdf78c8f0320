"""Everything one input partition has learned, and the sessions it holds open.

A :class:`Shard` is a deterministic function of the page views of one ``pageviews``
partition, applied in offset order: its open sessions (recent clusters, features, pages
viewed), per page cluster the learning state of that partition's traffic (Markov counts,
Q-row, page value, prequential scores), and one next-page model for all its clusters. The worker serves and learns in
the same hop, so nothing crosses Kafka between a page view and what is learned from it;
the counts of all shards are additive and are merged for serving (:mod:`stream.worker.snapshots`).

Q-targets and page-value rewards use the shard's own figures, so a shard's state depends on
its partition's events only: a crash, a rebalance or a rebuild from the log learns exactly
the same. ``offset`` is the last input offset applied; :meth:`Shard.apply` ignores anything
at or below it, which makes learning idempotent under Faust's at-least-once delivery.

>>> from stream.core.learning.cluster import LearningConfig
>>> shard = Shard(0, ClusterLearner(LearningConfig()), 1_800_000)
>>> view = PageView(event_id="s-1", session_id="s", visitor_id="v",
...                 timestamp=1_501_591_568_000, page_path="/home")
>>> shard.apply(view, "home", offset=0, ingest_time=0).sequence
1
>>> view2 = view.derive(event_id="s-2", timestamp=view.timestamp + 30_000)
>>> shard.apply(view2, "cart", offset=1, ingest_time=0).sequence
2
>>> shard.apply(view2, "cart", offset=1, ingest_time=0) is None  # delivered again
True
>>> shard.rows["home"].markov.counts
{'cart': 1}
"""

from __future__ import annotations

from typing import Callable

from stream.core.learning.cluster import ClusterLearner, ClusterRow, ClusterValue
from stream.core.learning.nextpage import NextPageModel
from stream.core.learning.prequential import Score
from stream.core.models import PageView, Step
from stream.core.outcomes import SessionOutcomes
from stream.core.sessions import SessionState, advance, exit_step, expired

SWEEP_EVERY = 100  # input offsets between two sweeps of the partition's quiet sessions


class Shard:
    """Sessions and learning state of one input partition (plain Python, no Faust)."""

    def __init__(self, partition: int, learner: ClusterLearner, timeout_ms: int,
                 on_scored: Callable[[str, Score], None] | None = None):
        self.partition, self.learner, self.timeout_ms = partition, learner, timeout_ms
        self.on_scored = on_scored
        self.offset = -1  # last input offset applied
        self.sessions: dict[str, SessionState] = {}
        self.latest: dict[str, dict] = {}  # session id -> its latest recommendation
        self.outcomes = SessionOutcomes()  # what followed each recommendation served
        self.closed: list[list[dict]] = []  # outcomes of ended sessions, not yet taken
        self.rows: dict[str, ClusterRow] = {}
        self.model: NextPageModel = learner.new_model()
        self.values: dict[str, ClusterValue] = {}  # this shard's own, for Q-targets
        self.dirty_sessions: set[str] = set()  # changed since the last checkpoint
        self.dirty_clusters: set[str] = set()
        self.unpublished: set[str] = set()  # clusters changed since the last snapshot sent
        self.unfolded: set[str] = set()  # ... since this worker's merged view last took them

    def apply(self, view: PageView, cluster: str, *, offset: int, ingest_time: int
              ) -> Step | None:
        """Learn from the page view at ``offset`` (its session's label, page value, and
        the sweep it triggers); return its serve step, None when it was applied before."""
        if offset <= self.offset:
            return None
        session_id = view.session_id
        before = self.sessions.get(session_id)
        state, steps = advance(before, view, cluster, offset=offset,
                               ingest_time=ingest_time, timeout_ms=self.timeout_ms,
                               partition=self.partition)
        if before is not None and state.hits == 1:  # the old session timed out: ended
            self._ended(session_id, ingest_time)
        reached = self.values.get(cluster)
        self.outcomes.viewed(session_id, cluster, view.revenue,
                             reached.page_value if reached else 0.0)
        self.sessions[session_id] = state
        self.dirty_sessions.add(session_id)
        for step in steps:
            self.learn(step)
        if offset % SWEEP_EVERY == 0:
            self._sweep(view.timestamp, offset, ingest_time, first_index=len(steps),
                        keep=session_id)
        self.offset = offset
        return next(step for step in steps if step.serve)

    def take_closed(self) -> list[list[dict]]:
        """The outcomes of each session that ended since the last call."""
        closed, self.closed = self.closed, []
        return closed

    def _ended(self, session_id: str, ingest_time: int) -> None:
        outcomes = self.outcomes.close(session_id, ingest_time)
        if outcomes:
            self.closed.append(outcomes)

    def skip(self, offset: int) -> None:
        """An input offset with nothing to learn (a dead-lettered message)."""
        self.offset = max(self.offset, offset)

    def learn(self, step: Step) -> None:
        """One learning step on its cluster: predict, then learn the next-page model; then the
        prequential scores, Markov counts, Q-row and page value."""
        cluster = step.cluster
        row = self.rows.get(cluster) or self.learner.new_row()
        rank = None
        if step.learn_next and step.learn_features is not None:
            rank = self.learner.learn_model(self.model, step)
        learned = self.learner.learn_row(row, step, rank, self.values)
        if learned is row:
            return
        if self.on_scored is not None:
            for name, score in learned.scores.items():
                self.on_scored(name, score - row.scores.get(name, Score()))
        self.rows[cluster] = learned
        self.values[cluster] = learned.published()
        self.dirty_clusters.add(cluster)
        self.unpublished.add(cluster)
        self.unfolded.add(cluster)

    def close_all(self, ingest_time: int = 0) -> None:
        """End every open session (the end of a file in ``pagepilot evaluate``)."""
        self._close(sorted(self.sessions), self.offset + 1, ingest_time, first_index=0)

    def _sweep(self, event_time: int, offset: int, ingest_time: int, first_index: int,
               keep: str) -> None:
        """Close the sessions that went quiet before ``event_time``, in session-id order,
        so a page view processed again closes the same ones."""
        quiet = sorted(session_id for session_id, state in self.sessions.items()
                       if session_id != keep and expired(state, event_time, self.timeout_ms))
        self._close(quiet, offset, ingest_time, first_index)

    def _close(self, session_ids: list[str], offset: int, ingest_time: int,
               first_index: int) -> None:
        for index, session_id in enumerate(session_ids, start=first_index):
            state = self.sessions.pop(session_id)
            self.latest.pop(session_id, None)
            self._ended(session_id, ingest_time)
            self.dirty_sessions.add(session_id)
            self.learn(exit_step(session_id, state, ingest_time,
                                 source=[self.partition, offset, index]))

