"""The worker's live metrics: measured here, shared through the metrics topic.

Once a second every worker measures its gauges (lag, open sessions, memory, the clusters'
transitions) into a snapshot of :data:`stream.worker.agents.metrics` and sends it to the metrics
topic. Every worker also reads that topic, outside the consumer group (all of it), and keeps
the latest snapshot of each worker, so any worker's web server can answer for the whole
group of workers (:func:`group_figures`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.config import settings
from stream.core.models import EXIT
from stream.worker.agents import merged, metrics, shards
from stream.worker.app import app
from stream.worker.metrics import merge

log = logging.getLogger(__name__)
_settings = settings()
INTERVAL_S = 1.0
NETWORK_EDGES = 8  # most likely next clusters sent per cluster

metrics_topic = app.topic(_settings.metrics_topic, key_type=str, value_type=bytes,
                          value_serializer="raw")
snapshots: dict[str, dict] = {}  # worker -> its latest snapshot, this one included
_process = psutil.Process()


@app.timer(INTERVAL_S)
async def publish_metrics():
    snapshot = metrics.snapshot(_gauges())
    snapshots[metrics.worker] = snapshot
    await metrics_topic.send(key=metrics.worker, value=json.dumps(snapshot).encode())


@app.task
async def read_group_metrics():
    """Follow the metrics topic from a few seconds back, keeping each worker's latest."""
    consumer = AIOKafkaConsumer(**_settings.kafka_options(), enable_auto_commit=False,
                                client_id=f"{_settings.app_id}-metrics-reader")
    await consumer.start()
    try:
        partition = TopicPartition(_settings.metrics_topic, 0)
        consumer.assign([partition])
        since = await consumer.offsets_for_times({partition: int((time.time() - 15) * 1000)})
        if since.get(partition):
            consumer.seek(partition, since[partition].offset)
        else:
            await consumer.seek_to_end(partition)
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for message in (m for batch in batches.values() for m in batch):
                _keep(message.value)
    except asyncio.CancelledError:
        raise
    except Exception:  # metrics must never take the worker down
        log.exception("reading the metrics topic failed; group figures show this worker only")
    finally:
        await consumer.stop()


def _keep(raw: bytes) -> None:
    try:
        snapshot = json.loads(raw)
        merge([snapshot])  # one missing figure would break every later merge of the group
        snapshots[snapshot["worker"]] = snapshot
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignored a malformed metrics snapshot")


def group_figures(scope: str = "group") -> dict:
    """Merged figures of every live worker (``scope="group"``, or anything but ``worker``:
    ``cluster`` was its name before) or of this one only."""
    if scope == "worker":
        return merge([snapshots.get(metrics.worker) or metrics.snapshot(_gauges())])
    return merge(snapshots.values())


def _gauges() -> dict:
    owned = shards.owned()
    open_sessions = sum(len(shard.sessions) for shard in owned)
    return {"lag": _lag(), "partitions": _input_partitions(),
            "open_sessions": open_sessions,
            "tables": {"sessions": open_sessions,
                       "clusters": sum(len(shard.rows) for shard in owned),
                       "snapshots": len(merged)},
            "memory_rss_bytes": _process.memory_info().rss,
            "network": _network()}


_INPUTS = (_settings.pageviews_topic,)


def _input_partitions() -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment()
                  if tp.topic in _INPUTS)


def _lag() -> dict[str, dict[str, int]]:
    """Per assigned input partition: messages after the last one this worker read."""
    lag: dict[str, dict[str, int]] = {}
    read = app.monitor.tp_read_offsets
    for tp in app.consumer.assignment():
        if tp.topic not in _INPUTS:
            continue
        end = app.consumer.highwater(tp)
        if end is None:
            continue
        position = read[tp] + 1 if tp in read else app.monitor.tp_committed_offsets.get(tp, 0)
        lag.setdefault(tp.topic, {})[str(tp.partition)] = max(end - position, 0)
    return lag


def _network() -> dict[str, dict]:
    """Per cluster: its transitions and most likely next clusters, over every shard."""
    out = {}
    for cluster in merged.clusters():
        counts = merged.row(cluster).markov
        proba = counts.predict_proba_one()
        top = sorted((c for c in proba if c != EXIT), key=lambda c: -proba[c])[:NETWORK_EDGES]
        out[cluster] = {"transitions": counts.total, "exit_rate": round(counts.exit_rate, 4),
                        "next": {c: round(proba[c], 4) for c in top}}
    return out
