"""Local checkpoints of the worker's shards, and their rebuild from the pageviews log.

A shard (:class:`stream.core.shard.Shard`) is checkpointed to a local RocksDB (rocksdict) every
``PAGEPILOT_CHECKPOINT_INTERVAL`` seconds (the worker's shards in turn), in one atomic
write: the sessions (with their latest recommendation and outcome drafts) and clusters it
changed since the last one, its pickled next-page model
and the input offset they reflect. The write
happens only after the producer has flushed every output of that offset, so an input offset
at or below a checkpoint has its recommendation in Kafka: processed again, it is not
published again. Pickles never cross Kafka: a checkpoint is written and read on this
machine only.

When a shard's checkpoint is behind what the group has committed (a crash between a commit
and a checkpoint), missing (local state lost), or stale (the partition was processed by
another worker meanwhile), :func:`read_pageviews` reads the missing input offsets from the
retained pageviews topic and the shard learns them again, without publishing: the pageviews
topic is the log of record.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
from pathlib import Path
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from stream.config import Settings
from stream.core.learning.cluster import ClusterLearner
from stream.core.sessions import SessionState
from stream.core.shard import Shard

log = logging.getLogger(__name__)
OFFSET, SESSION, ROW, MODEL, LATEST, DRAFTS = b"o", b"s", b"r", b"m", b"l", b"d"


class ShardCheckpoints:
    """The shards of this worker in one RocksDB, keys prefixed by partition."""

    def __init__(self, path: Path, learner: ClusterLearner, timeout_ms: int,
                 options: dict | None = None):
        self._path, self._learner, self._timeout_ms = path, learner, timeout_ms
        self._options = options or {}
        self._rdict: Rdict | None = None
        self._opening = threading.Lock()  # shards are loaded in executor threads at once
        self._pending: dict[int, dict[bytes, bytes | None]] = {}  # captured, not yet written

    @property
    def _db(self) -> Rdict:
        with self._opening:
            if self._rdict is None:  # opened on first use, in the worker, not at import
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._rdict = Rdict(str(self._path), options=_bounded(self._options))
            return self._rdict

    def load(self, partition: int, **shard_options) -> Shard:
        """The partition's shard as last checkpointed (a fresh one when there is none)."""
        shard = Shard(partition, self._learner, self._timeout_ms, **shard_options)
        prefix = _key(partition, b"")
        model = None
        for key, value in self._db.items(from_key=prefix):
            if not key.startswith(prefix):
                break
            kind, name = key[len(prefix):len(prefix) + 1], key[len(prefix) + 2:].decode()
            if kind == OFFSET:
                shard.offset = int(value)
            elif kind == SESSION:
                shard.sessions[name] = SessionState.from_json(json.loads(value))
            elif kind == LATEST:
                shard.latest[name] = json.loads(value)
            elif kind == DRAFTS:
                shard.outcomes.open[name] = json.loads(value)
            elif kind == ROW:
                shard.rows[name] = self._learner.new_row(json.loads(value))
                shard.values[name] = shard.rows[name].published()
            elif kind == MODEL:
                model = pickle.loads(value)
        if shard.rows and (model is None or model.kind != self._learner.config.model):
            log.warning("shard %d: no checkpointed model of kind %r (PAGEPILOT_MODEL changed?); "
                        "rebuilding the shard from the pageviews topic", partition,
                        self._learner.config.model)
            return Shard(partition, self._learner, self._timeout_ms, **shard_options)
        if model is not None:
            shard.model = model
        return shard

    def capture(self, shard: Shard) -> None:
        """Take what the shard changed since its last capture (written by :meth:`write`)."""
        if not (shard.dirty_sessions or shard.dirty_clusters):
            return
        pending = self._pending.setdefault(shard.partition, {})
        p = shard.partition
        for session_id in shard.dirty_sessions:
            state, latest = shard.sessions.get(session_id), shard.latest.get(session_id)
            name = session_id.encode()
            pending[_key(p, SESSION, name)] = _json(state.to_json()) if state else None
            pending[_key(p, LATEST, name)] = _json(latest) if latest else None
            drafts = shard.outcomes.open.get(session_id)
            pending[_key(p, DRAFTS, name)] = _json(drafts) if drafts else None
        for cluster in shard.dirty_clusters:
            pending[_key(p, ROW, cluster.encode())] = _json(shard.rows[cluster].to_json())
        if shard.dirty_clusters:
            pending[_key(p, MODEL)] = pickle.dumps(shard.model, protocol=pickle.HIGHEST_PROTOCOL)
        pending[_key(p, OFFSET)] = str(shard.offset).encode()
        shard.dirty_sessions.clear()
        shard.dirty_clusters.clear()

    def write(self) -> None:
        """Write everything captured, one atomic batch (kept for the next try on failure)."""
        if not self._pending:
            return
        batch = WriteBatch(raw_mode=True)
        for entries in self._pending.values():
            for key, value in entries.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
        self._db.write(batch)
        self._pending.clear()

    def close(self) -> None:
        if self._rdict is not None:
            self._rdict.close()
            self._rdict = None


def read_pageviews(config: Settings, partition: int, start: int, end: int | None
                   ) -> Iterator[tuple[int, bytes | None, bytes | None, float]]:
    """(offset, key, value, timestamp in s) of input offsets ``start..end`` of one pageviews
    partition (blocking; ``end`` None: up to the offset the group has committed, excluded)."""
    tp = TopicPartition(config.pageviews_topic, partition)
    consumer = KafkaConsumer(**config.kafka_options(), enable_auto_commit=False,
                             group_id=config.app_id, max_poll_records=2000)
    try:
        consumer.assign([tp])
        if end is None:
            committed = consumer.committed(tp)
            end = -1 if committed is None else committed - 1
        end = min(end, consumer.end_offsets([tp])[tp] - 1)
        if end < start:
            return
        consumer.seek(tp, max(start, consumer.beginning_offsets([tp])[tp]))
        while consumer.position(tp) <= end:
            for record in consumer.poll(timeout_ms=1000).get(tp, []):
                if record.offset > end:
                    return
                yield record.offset, record.key, record.value, record.timestamp / 1000
    finally:
        consumer.close()


def _bounded(memory: dict) -> Options:
    """RocksDB options within the memory of ``Settings.table_store_options``."""
    options = Options(raw_mode=True)
    if memory:
        options.set_write_buffer_size(memory["write_buffer_size"])
        options.set_max_write_buffer_number(memory["max_write_buffer_number"])
        table = BlockBasedOptions()
        table.set_block_cache(Cache(memory["block_cache_size"]))
        options.set_block_based_table_factory(table)
    return options


def _key(partition: int, kind: bytes, name: bytes = b"") -> bytes:
    return b"%d:%s:%s" % (partition, kind, name) if kind else b"%d:" % partition


def _json(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
