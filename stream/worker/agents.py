"""The worker's agent: one hop from a page view to its recommendation.

``serve`` (pageviews, key: session) validates each page view, dead-letters bad ones, learns
from it in the shard of its input partition (:class:`stream.core.shard.Shard`: the session's
label, page value, Q-row, River model) and publishes its recommendation at once, from the
merged snapshots of every shard (:mod:`stream.worker.snapshots`). A session's page views share a
partition, so its recommendations come out in page-view order by construction.

Shards live in memory, are published as snapshots every second and checkpointed locally
every ``PAGEPILOT_CHECKPOINT_INTERVAL`` seconds, and are rebuilt from the pageviews topic
when a checkpoint is behind (:mod:`stream.worker.checkpoints`). No Faust table is written, so no
changelog message is produced per page view. The agent runs with concurrency 1: a shard
applies its partition's offsets in order, each once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from stream.config import settings
from stream.core.learning.cluster import ClusterLearner
from stream.core.models import DeadLetter, PageView, Step
from stream.core.outcomes import outcome_draft, session_message
from stream.core.policy import POLICY_NAMES, recommend_under
from stream.core.shard import Shard
from stream.core.validation import InvalidEvent, parse_pageview
from stream.worker.app import app
from stream.worker.checkpoints import ShardCheckpoints, read_pageviews
from stream.worker.metrics import WorkerMetrics
from stream.worker.snapshots import ClusterSnapshot, MergedView, merge_rows
from stream.worker.topics import dead_letter_topic, pageviews_topic, recommendations_topic

log = logging.getLogger(__name__)
_settings = settings()
_clusterer = _settings.clusterer()
_timeout_ms = int(_settings.session_timeout_s * 1000)
_recommendations = recommendations_topic.get_topic_name()
_outcomes = _settings.outcomes_topic
SNAPSHOT_EVERY_S = 1.0  # snapshots sent to the other workers at most this often
BATCH_MAX, BATCH_WITHIN_S = 500, 0.005  # page views taken at once; the longest one waits
FOLD_EVERY_S = 0.1  # this worker's own changes reach its merged view this often
_last_sent = float("-inf")
_next_checkpoint = -1  # the partition of the shard checkpointed last
# Held from a page view's learning until its answer is with the producer: a checkpoint is
# captured between two page views, so every offset it covers has its answer sent.
_answering = asyncio.Lock()
REBUILD_RETRY_S = 2.0  # after a Kafka error, rebuilding or reading snapshots again
learner = ClusterLearner(_settings.learning())
experiment = _settings.experiments()
metrics = WorkerMetrics(worker=f"{socket.gethostname()}:{_settings.web_port}",
                        control=experiment.served[0].name,
                        window_s=_settings.experiment_window_s)
merged = MergedView()
checkpoints = ShardCheckpoints(Path(app.conf.datadir) / "shards", learner, _timeout_ms,
                               _settings.table_store_options())


class Shards:
    """This worker's shards, each ready once it reflects every offset before the next one
    it will be given."""

    def __init__(self):
        self.ready: dict[int, Shard] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def owned(self) -> list[Shard]:
        """The ready shards of the input partitions assigned to this worker now."""
        return [self.ready[tp.partition] for tp in _assigned() if tp.partition in self.ready]

    async def for_offset(self, partition: int, offset: int) -> Shard:
        """The partition's shard, having applied everything before ``offset``."""
        shard = self.ready.get(partition)
        if shard is not None and shard.offset >= offset - 1:
            return shard
        return await self.prepare(partition, offset - 1)

    async def prepare(self, partition: int, upto: int | None) -> Shard:
        """Load the shard and learn the input offsets up to ``upto`` it has not seen (None:
        up to the group's committed offset), off the event loop, retrying on Kafka errors."""
        lock = self._locks.setdefault(partition, asyncio.Lock())
        async with lock:
            shard = self.ready.get(partition)
            if shard is not None and upto is not None and shard.offset >= upto:
                return shard
            shard = self.ready.pop(partition, None)  # not served from while it catches up
            loop = asyncio.get_running_loop()
            while True:
                try:
                    shard = await loop.run_in_executor(None, _caught_up, shard, partition, upto)
                    break
                except Exception:  # Kafka unreachable: the shard waits, nothing lost
                    log.warning("shard %d: rebuilding from its checkpoint and the pageviews "
                                "log failed; retrying", partition, exc_info=True)
                    await asyncio.sleep(REBUILD_RETRY_S)
            shard.on_scored = metrics.scored
            self.ready[partition] = shard
            return shard


shards = Shards()


def _caught_up(shard: Shard | None, partition: int, upto: int | None) -> Shard:
    """``shard`` (else its checkpoint) after the input offsets up to ``upto`` (blocking)."""
    shard = shard or checkpoints.load(partition)
    shard.on_scored = None  # learned before: not scored again in this worker's metrics
    start, learned = shard.offset + 1, 0
    for offset, key, value, timestamp in read_pageviews(_settings, partition, start, upto):
        try:
            view = _valid_pageview(key, value)
        except InvalidEvent:
            shard.skip(offset)  # it was dead-lettered when it was first processed
            continue
        shard.apply(view, _cluster_of(view), offset=offset, ingest_time=_ms(timestamp))
        learned += 1
    shard.take_closed()  # published when these offsets were first processed
    if learned:
        log.info("shard %d: learned %d page views from the pageviews log (offsets %d..%d)",
                 partition, learned, start, shard.offset)
    return shard


@app.on_partitions_assigned.connect
async def _prepare_assigned(app, assigned, **kwargs):
    """Bring assigned shards up to the committed offsets at once, not when their next page
    view comes (a shard this worker held before may have been moved on by another)."""
    for tp in assigned:
        if tp.topic == pageviews_topic.get_topic_name():
            asyncio.ensure_future(shards.prepare(tp.partition, None))


@app.agent(pageviews_topic, concurrency=1)
async def serve(stream):
    """Page views in batches: Faust's path per event handed to an agent costs about as much
    as the work of the page view itself, and taking what is there at once (at most
    ``BATCH_MAX``, waiting at most ``BATCH_WITHIN_S``) pays it per batch; the worker drains
    about 1.8 times as fast (docs/benchmark.md). Faust acknowledges a batch's events after
    the loop body has handled all of them."""
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
        for event in events:
            message = event.message
            shard = await shards.for_offset(message.partition, message.offset)
            if message.offset <= shard.offset:  # processed before a checkpoint: answered
                metrics.skipped_repeat()
                continue
            async with _answering:
                await _answer(shard, message)


async def _answer(shard: Shard, message) -> None:
    try:
        data, ended = _serve_one(shard, message)
        await _produce(_recommendations, message.key, _json(data))
        for outcomes in ended:
            metrics.session_ended(outcomes)
            await _produce(_outcomes, outcomes[0]["session_id"].encode(),
                           _json(session_message(outcomes)))
    except InvalidEvent as exc:
        shard.skip(message.offset)
        await _dead_letter(message, str(exc))
    except Exception as exc:  # an escaping error would stall the partition
        log.exception("page view at %s[%s]@%s failed", message.topic,
                      message.partition, message.offset)
        shard.skip(message.offset)
        await _dead_letter(message, f"internal error: {exc!r}")


def _serve_one(shard: Shard, message) -> tuple[dict, list[list[dict]]]:
    """Learn from the page view, then recommend: the Recommendation as plain JSON values,
    and the outcomes of each session that this page view ended."""
    view = _valid_pageview(message.key, message.value)
    previous = shard.latest.get(view.session_id)
    step = shard.apply(view, _cluster_of(view), offset=message.offset,
                       ingest_time=_ms(message.timestamp))
    metrics.received()
    if previous is not None and step.sequence > 1:  # was the last recommendation followed?
        metrics.served(step.cluster in {item["cluster"] for item in previous["items"]},
                       previous["variant"])
    data, draft = _recommend(step, shard)
    shard.latest[view.session_id] = data
    shard.outcomes.served(view.session_id, draft)
    metrics.recommended(data)
    return data, shard.take_closed()


async def _produce(topic: str, key: bytes, value: bytes) -> None:
    """Hand a message to the producer without waiting for Kafka.

    Faust's ``send_soon`` queues each message for a task that sends them one by one, and
    holds the stream back when 100 are queued: at a few thousand page views a second the
    worker waited on it. Faust flushes the producer before every commit, so what is sent
    here is in Kafka before its offset is committed; a send that fails stops the worker
    (it restarts from the committed offsets) rather than losing the message.
    """
    future = await app.producer.send(topic, key, value, partition=None, timestamp=None,
                                     headers=None)
    future.add_done_callback(_check_sent)


def _check_sent(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a message could not be sent: %r; stopping the worker", future.exception())
        asyncio.ensure_future(app.crash(future.exception()))


_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _json(data: dict) -> bytes:
    return _encode(data).encode()


def _recommend(step: Step, shard: Shard) -> tuple[dict, dict]:
    """The policy over the merged snapshots, with this shard's next-page model: a
    :class:`~stream.core.models.Recommendation` as plain JSON values, and the draft of
    its outcome (:mod:`stream.core.outcomes`)."""
    row = merged.row(step.cluster)
    variant, served, counterfactuals = recommend_under(
        experiment, row, shard.model, step.features or {}, step.cluster, merged.values(),
        learner.config, (step.session_id, step.event_id))
    now = _ms(time.time())
    snapshot_ms = merged.published_ms(step.cluster)
    metrics.served_from(None if snapshot_ms is None else now - snapshot_ms)
    data = {"session_id": step.session_id, "event_id": step.event_id,
            "sequence": step.sequence, "cluster": step.cluster,
            "items": served.items, "policy": POLICY_NAMES[variant.policy],
            "variant": variant.name, "explored": served.explored,
            "counterfactuals": counterfactuals, "policy_version": served.version,
            "cold": not served.items, "fallback": served.fallback,
            "event_time": step.event_time, "ingest_time": step.ingest_time,
            "publish_time": now}
    return data, outcome_draft(data, variant.epsilon, row)


@app.timer(FOLD_EVERY_S)
async def share_snapshots():
    await publish_snapshots()


async def publish_snapshots(force: bool = False) -> None:
    """Fold what the owned shards learned into this worker's merged view (every 0.1 s), and
    send it to every other worker (at most every second, or when ``force``)."""
    global _last_sent
    now = time.monotonic()
    send = force or now - _last_sent >= SNAPSHOT_EVERY_S
    for shard in shards.owned():
        changed, shard.unfolded = shard.unfolded, set()
        if send:
            changed, shard.unpublished = shard.unpublished, set()
        snapshots = [_snapshot(shard, cluster) for cluster in sorted(changed)]
        for snapshot in snapshots:  # all taken before the first await: one moment's state
            merged.fold(snapshot)
            if send:
                await _produce(_settings.snapshots_topic, snapshot.key.encode(),
                               snapshot.to_bytes())
    if send:
        _last_sent = now


def _snapshot(shard: Shard, cluster: str) -> ClusterSnapshot:
    return ClusterSnapshot(partition=shard.partition, cluster=cluster, offset=shard.offset,
                           published_ms=_ms(time.time()), row=shard.rows[cluster],
                           model_samples=shard.model.seen.get(cluster, 0))


@app.timer(_settings.checkpoint_interval_s / _settings.partitions)
async def checkpoint_shards():
    """One shard per tick, in turn, so each pause of the event loop to capture (the River
    models are pickled) is a fraction of what capturing all of them at once would be."""
    ready = sorted(shards.ready)
    if ready:
        global _next_checkpoint
        _next_checkpoint = next((p for p in ready if p > _next_checkpoint), ready[0])
        await _checkpoint([shards.ready[_next_checkpoint]])


@app.on_before_shutdown.connect
async def _checkpoint_at_shutdown(app, **kwargs):
    await publish_snapshots(force=True)
    await _checkpoint(list(shards.ready.values()))


async def _checkpoint(some: list[Shard]) -> None:
    """Capture the shards now, and write them once everything sent so far is in Kafka."""
    async with _answering:
        for shard in some:
            if shards.ready.get(shard.partition) is shard:  # not while it is being rebuilt
                checkpoints.capture(shard)
    await app.producer.flush()
    checkpoints.write()


@app.task
async def follow_snapshots():
    """Fold every shard's snapshots into the merged view: all of the compacted topic, then
    what comes, for as long as the worker runs (reading it again from the start after a
    Kafka error: older and equal snapshots are ignored)."""
    while True:
        try:
            await _read_snapshots()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("reading the snapshots topic failed; reading it again",
                        exc_info=True)
            await asyncio.sleep(REBUILD_RETRY_S)


async def _read_snapshots() -> None:
    consumer = AIOKafkaConsumer(**_settings.kafka_options(), enable_auto_commit=False,
                                auto_offset_reset="earliest",
                                client_id=f"{_settings.app_id}-snapshots-reader")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(_settings.snapshots_topic, 0)])
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for message in (m for batch in batches.values() for m in batch):
                try:
                    merged.fold(ClusterSnapshot.from_bytes(message.value))
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed snapshot at offset %d", message.offset)
    finally:
        await consumer.stop()


def learned_state(scope: str = "group") -> dict[str, dict]:
    """What was learned per cluster: over every shard's latest snapshot (``group``), or over
    this worker's own shards (``worker``). Counts exactly, floats as stored."""
    if scope == "worker":
        owned = shards.owned()
        clusters = sorted({c for shard in owned for c in shard.rows})
        rows = {c: merge_rows([s.rows[c] for s in owned if c in s.rows])
                for c in clusters}
        samples = {c: sum(s.model.seen.get(c, 0) for s in owned) for c in clusters}
    else:
        rows = {c: merged.row(c) for c in merged.clusters()}
        samples = {c: merged.model_samples(c) for c in rows}
    return {cluster: {"transitions": row.markov.counts,
                      "unique_views": row.page_value.unique_views,
                      "credited": row.page_value.credited,
                      "q": {a: q for a, (q, _n) in row.q.items()},
                      "q_visits": {a: n for a, (_q, n) in row.q.items()},
                      "model_samples": samples[cluster]}
            for cluster, row in rows.items()}


def session_partition(session_id: str) -> int:
    """The input partition of a session, as the producers' default partitioner puts it."""
    return (murmur2(session_id.encode()) & 0x7FFFFFFF) % _settings.partitions


def _assigned():
    name = pageviews_topic.get_topic_name()
    return [tp for tp in app.consumer.assignment() if tp.topic == name]


def _valid_pageview(key: bytes | None, value: bytes | None) -> PageView:
    if value is None:
        raise InvalidEvent("empty message (no value)")
    view = parse_pageview(value, _settings.max_event_bytes)
    if not key:
        raise InvalidEvent("message has no key (the session id is expected)")
    if key != view.session_id.encode():
        raise InvalidEvent("message key does not match session_id")
    return view


def _cluster_of(view: PageView) -> str:
    return _clusterer.cluster_of(view.page_path, view.page_title)


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
