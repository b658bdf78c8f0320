"""The worker's agents: thin loops that move records between topics and tables.

``sessionize`` (pageviews, key: session) validates each page view, dead-letters bad ones,
and sends steps to the partition of the page cluster; ``learn_and_serve`` (steps, key:
cluster) learns, per cluster, the River classifier, Markov counts, Q-row and page value,
and answers every page view; ``publish_in_order`` (answers, key: session) publishes each
session's recommendations in the order of its page views. All write tables, so all run
with concurrency 1. Each is idempotent: a message processed again after a crash or a
rebalance sends the same steps (sessionize), is not learned twice (learn_and_serve), and is
published again for readers to drop by event id. The logic is plain code in
:mod:`stream.sessions`, :mod:`stream.learning` and :mod:`stream.ordering`.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
from pathlib import Path

from kafka.partitioner.default import murmur2

from stream.app import app
from stream.checkpoints import ModelCheckpoints
from stream.clusters import PageClusterer
from stream.config import settings
from stream.learning.cluster import ClusterLearner, ClusterRow, ClusterValue, accepts, advanced
from stream.learning.prequential import Score
from stream.metrics import WorkerMetrics
from stream.models import DeadLetter, PageView, Recommendation, Step
from stream.policy import POLICY_NAME, candidates, rank
from stream.ordering import SessionOrder, failed_answer, give_up_waiting, release
from stream.sessions import SessionRecord, on_page_view, sweep
from stream.topics import (answers_topic, dead_letter_topic, pageviews_topic,
                           recommendations_topic, steps_topic)
from stream.validation import InvalidEvent, parse_pageview

log = logging.getLogger(__name__)
_settings = settings()
_clusterer = PageClusterer.from_file(_settings.cluster_rules)
_timeout_ms = int(_settings.session_timeout_s * 1000)
SWEEP_EVERY = 100  # input offsets of a partition between two sweeps of its quiet sessions
# How long an answer waits for a missing earlier one of its session: long enough for the
# earlier one's step to wait out a rebalance (a dead worker is noticed after one group
# session timeout) and its partition's recovery. Failed steps send a failed answer instead.
HOLD_MS = int(3 * _settings.broker_session_timeout_s * 1000)
TICK_S = 5.0       # how often each answers partition is swept, even when no answer comes
TICK = {"tick": True}  # the answer that only triggers that sweep
learner = ClusterLearner(_settings.learning(), _clusterer.clusters)
_models = ModelCheckpoints(Path(app.conf.datadir) / "models", learner, _settings)
metrics = WorkerMetrics(worker=f"{socket.gethostname()}:{_settings.web_port}")

# key: session id -> SessionRecord (json)
sessions = app.Table("sessions", default=None, partitions=_settings.partitions,
                     options=_settings.table_store_options())
# key: session id -> SessionOrder (json), on the session's answers partition
orders = app.Table("orders", default=None, partitions=_settings.partitions,
                   options=_settings.table_store_options())
# key: page cluster -> ClusterRow (json), on the partition of that cluster
clusters = app.Table("clusters", default=None, partitions=_settings.partitions,
                     options=_settings.table_store_options())
# key: page cluster -> ClusterValue (json), on every worker
cluster_values = app.GlobalTable("cluster-values", default=None,
                                 partitions=_settings.partitions,
                                 options=_settings.table_store_options())


@app.agent(pageviews_topic, concurrency=1)
async def sessionize(stream):
    async for event in stream.events():
        message = event.message
        try:
            view = _valid_pageview(message.key, message.value)
            for step in _sessionize_one(view, message):
                steps_topic.send_soon(key=step.cluster, value=step)
            metrics.received()
        except InvalidEvent as exc:
            await _dead_letter(message, str(exc))
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("page view at %s[%s]@%s failed", message.topic,
                          message.partition, message.offset)
            await _dead_letter(message, f"internal error: {exc!r}")


@app.agent(steps_topic, concurrency=1)
async def learn_and_serve(stream):
    async for event in stream.events():
        step = event.value
        try:
            await _learn_and_serve_one(step, event.message)
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("step at offset %s failed", event.message.offset)
            await _dead_letter(event.message, f"internal error: {exc!r}")
            if step.serve:  # its session's later answers need not wait for it
                answers_topic.send_soon(key=step.session_id, value=failed_answer(
                    step.session_id, step.sequence, step.event_time))


@app.agent(answers_topic, concurrency=1)
async def publish_in_order(stream):
    async for event in stream.events():
        try:
            _publish_in_order_one(event.value, event.message)
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("answer at offset %s failed", event.message.offset)
            await _dead_letter(event.message, f"internal error: {exc!r}")


@app.timer(TICK_S)
async def tick_answers():
    """A tick through each answers partition this worker owns: its sweep then runs even
    when no answer comes (tables change only while an event of their partition is handled)."""
    for tp in app.consumer.assignment():
        if tp.topic == answers_topic.get_topic_name():
            await answers_topic.send(value=TICK, partition=tp.partition)


def _valid_pageview(key: bytes | None, value: bytes | None) -> PageView:
    if value is None:
        raise InvalidEvent("empty message (no value)")
    view = parse_pageview(value, _settings.max_event_bytes)
    if not key:
        raise InvalidEvent("message has no key (the session id is expected)")
    if key != view.session_id.encode():
        raise InvalidEvent("message key does not match session_id")
    return view


def _sessionize_one(view: PageView, message) -> list[Step]:
    """The steps of one page view, and of the sweep it triggers every SWEEP_EVERY offsets
    (an offset grid, not a clock, so a page view processed again sweeps again the same)."""
    cluster = _clusterer.cluster_of(view.page_path, view.page_title)
    at = dict(partition=message.partition, offset=message.offset,
              ingest_time=_ms(message.timestamp), timeout_ms=_timeout_ms,
              committed=_committed(message))
    before = SessionRecord.from_json(sessions.get(view.session_id))
    record, steps = on_page_view(before, view, cluster, **at)
    if record is not before:
        sessions[view.session_id] = record.to_json()
    if message.offset % SWEEP_EVERY == 0:
        steps += _sweep(view, first_index=len(steps), **at)
    return steps


def _sweep(view: PageView, **at) -> list[Step]:
    """Close this partition's quiet sessions (Faust writes a table change to the changelog
    partition of the event being processed, so only the event's own partition is swept)."""
    records = {session_id: SessionRecord.from_json(data)
               for session_id, data in sessions.items()
               if data["partition"] == at["partition"] and session_id != view.session_id}
    changes, exits = sweep(records, event_time=view.timestamp, **at)
    for session_id, record in changes.items():
        if record is None:
            del sessions[session_id]
        else:
            sessions[session_id] = record.to_json()
    return exits


def _committed(message) -> int | None:
    """The offset the group has committed on the message's partition (None: not known).

    Faust keeps it privately; it only grows, and what is below it is never delivered again.
    """
    return app.consumer._committed_offset.get(message.tp)


@app.timer(5.0)
async def checkpoint_models():
    _models.save_all()


@app.on_before_shutdown.connect
async def _checkpoint_at_shutdown(app, **kwargs):
    _models.save_all()


async def _learn_and_serve_one(step: Step, message) -> None:
    """Predict, then learn (each step once, see :func:`accepts`), then answer the page view."""
    row = learner.new_row(clusters.get(step.cluster))
    model_offset, model = await _models.load(step.cluster, message.partition, row)
    values = value_cache.get()
    new = accepts(row.sources, step)
    ranking = None
    if message.offset > model_offset:
        if new and step.learn_next and step.learn_features is not None:
            ranking = learner.learn_model(model, step)
        sources = advanced(row.sources, step) if new else row.sources
        _models.update(step.cluster, message.offset, sources, model, learned=ranking is not None)
    if new:
        learned = learner.learn_row(row, step, ranking, values, offset=message.offset)
        clusters[step.cluster] = learned.to_json()
        value_cache.publish(step.cluster, learned)
        for name, score in learned.scores.items():
            metrics.scored(name, score - row.scores.get(name, Score()))
        row = learned
    if step.serve:
        answers_topic.send_soon(key=step.session_id,
                                value=_recommend(step, row, model, values).to_plain())


def _publish_in_order_one(answer: dict, message) -> None:
    """Publish the session's answers that are due; on a tick, forget the orders of ended
    sessions and stop waiting for answers missing too long."""
    now = _ms(time.time())
    if answer == TICK:
        due = _sweep_orders(message.partition, now)
    else:
        stored = orders.get(answer["session_id"])
        order, due = release(SessionOrder.from_json(stored and stored["order"]), answer,
                             now_ms=now, timeout_ms=_timeout_ms)
        orders[answer["session_id"]] = {"partition": message.partition,
                                        "order": order.to_json()}
    for data in due:
        data = data | {"publish_time": _ms(time.time())}
        recommendations_topic.send_soon(key=data["session_id"],
                                        value=Recommendation.from_data(data))
        metrics.recommended(data)


def _sweep_orders(partition: int, now: int) -> list[dict]:
    due = []
    for session_id, data in list(orders.items()):
        if data["partition"] != partition:
            continue
        order, late = give_up_waiting(SessionOrder.from_json(data["order"]), now_ms=now,
                                      hold_ms=HOLD_MS)
        due += late
        if order.forgettable(now, ttl_ms=_timeout_ms):
            del orders[session_id]
        elif late:
            orders[session_id] = {"partition": partition, "order": order.to_json()}
    return due


async def learned_state() -> dict[str, dict]:
    """What this worker's clusters have learned: counts exactly, floats as stored, and the
    samples each River model has seen (caught up from the log, as for the next step)."""
    state = {}
    for cluster, data in list(clusters.items()):
        row = learner.new_row(data)
        partition = (murmur2(cluster.encode()) & 0x7FFFFFFF) % _settings.partitions
        _, model = await _models.load(cluster, partition, row)  # as the producer partitions
        state[cluster] = {
            "transitions": row.markov.counts, "unique_views": row.page_value.unique_views,
            "credited": row.page_value.credited, "q": row.q.q.tolist(),
            "q_visits": row.q.visits.tolist(), "model_samples": model.n_seen,
            "sources": row.sources}
    return state


def _recommend(step: Step, row: ClusterRow, model, values) -> Recommendation:
    proba, fallback, version = candidates(row, model, step.features or {}, step.cluster,
                                          values, learner.config)
    items = rank(proba, row, values, learner.index, learner.config)
    return Recommendation(
        session_id=step.session_id, event_id=step.event_id, sequence=step.sequence,
        cluster=step.cluster,
        items=items, policy=POLICY_NAME, policy_version=version, cold=not items,
        fallback=fallback, event_time=step.event_time, ingest_time=step.ingest_time,
        publish_time=_ms(time.time()))


class _ClusterValuesSnapshot:
    """The GlobalTable as ClusterValue records, re-read at most every ``max_age_s``.

    Other workers' updates reach the GlobalTable asynchronously anyway; reading it once per
    step would decode every cluster's JSON from RocksDB for each event.
    """

    def __init__(self, max_age_s: float = 0.2):
        self.max_age_s = max_age_s
        self._values: dict[str, ClusterValue] = {}
        self._read_at = float("-inf")

    def get(self) -> dict[str, ClusterValue]:
        if time.monotonic() - self._read_at > self.max_age_s:
            self._values = {c: ClusterValue.from_json(v) for c, v in cluster_values.items()}
            self._read_at = time.monotonic()
        return self._values

    def publish(self, cluster: str, row: ClusterRow) -> None:
        """Share the cluster's V(s), page value, exit rate and traffic when they moved."""
        value = row.published()
        current = self.get().get(cluster)
        if current is None or value.differs(current):
            cluster_values[cluster] = value.to_json()
            self._values[cluster] = value


value_cache = _ClusterValuesSnapshot()


async def _dead_letter(message, reason: str) -> None:
    metrics.dead_lettered()
    await dead_letter_topic.send(key=message.key if isinstance(message.key, bytes) else None,
                                 value=DeadLetter(
        reason=reason, topic=message.topic, partition=message.partition,
        offset=message.offset, key_b64=_b64(message.key), value_b64=_b64(message.value) or "",
        rejected_at=_ms(time.time())))


def _b64(data) -> str | None:
    if data is None:
        return None
    raw = data if isinstance(data, bytes) else str(data).encode()
    return base64.b64encode(raw).decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
