"""River models of the worker's page clusters: local RocksDB checkpoints (rocksdict), each
stored with the offset of the steps partition it has learned up to and the sources of the
steps it applied (see :func:`stream.learning.cluster.accepts`), and caught up from the
steps topic when behind.

Pickles never cross Kafka: a checkpoint is written and read only by the worker on this
machine. A model is checkpointed every ``every`` samples it learns, on a timer, and at
shutdown. When its checkpoint is missing (local state lost, or the partition moved here
from another worker) or older than the cluster's changelogged row, the model learns the
missing steps of its cluster again from the retained steps topic (Kafka is the log of
record), so it always matches the row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from rocksdict import Rdict

from stream.config import Settings
from stream.learning.cluster import ClusterLearner, ClusterRow, accepts, advanced
from stream.learning.nextpage import NextPageModel
from stream.models import Step

log = logging.getLogger(__name__)


class ModelCheckpoints:
    """Per-cluster (offset, sources, model): in memory, written through to RocksDB."""

    def __init__(self, path: Path, learner: ClusterLearner, config: Settings, every: int = 200):
        self._path, self._learner, self._config, self.every = path, learner, config, every
        self._rdict: Rdict | None = None
        self._cache: dict[str, tuple[int, dict, NextPageModel]] = {}
        self._unsaved: dict[str, int] = {}  # cluster -> samples learned since its checkpoint

    @property
    def _db(self) -> Rdict:
        if self._rdict is None:  # opened on first use, in the worker, not at import
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._rdict = Rdict(str(self._path))
        return self._rdict

    async def load(self, cluster: str, partition: int, row: ClusterRow
                   ) -> tuple[int, NextPageModel]:
        """The cluster's model and its offset, caught up with the changelogged row.

        The steps between the checkpoint and the row are learned again with the same
        decisions the row made: a step counts when :func:`accepts` says so.
        """
        offset, sources, model = self._cache.get(cluster) or self._stored(cluster)
        if offset < row.offset:
            loop = asyncio.get_running_loop()
            steps = await loop.run_in_executor(
                None, read_steps, self._config, partition, offset + 1, row.offset, cluster)
            for step in steps:
                if accepts(sources, step):
                    sources = advanced(sources, step)
                    if step.learn_next and step.learn_features is not None:
                        model.learn_one(step.learn_features, step.learn_next)
            log.info("rebuilt the model of %s from %d steps (offsets %d..%d)",
                     cluster, len(steps), offset + 1, row.offset)
            offset = row.offset
        self._cache[cluster] = (offset, sources, model)
        return offset, model

    def update(self, cluster: str, offset: int, sources: dict, model: NextPageModel,
               learned: bool) -> None:
        """The model has dealt with the step at ``offset`` (and learned from it, or not);
        ``sources`` are the row's after that step."""
        self._cache[cluster] = (offset, sources, model)
        if learned:
            self._unsaved[cluster] = self._unsaved.get(cluster, 0) + 1
            if self._unsaved[cluster] >= self.every:
                self.save(cluster)

    def save(self, cluster: str) -> None:
        self._db[cluster] = self._cache[cluster]
        self._unsaved.pop(cluster, None)

    def save_all(self) -> None:
        for cluster in list(self._unsaved):
            self.save(cluster)

    def _stored(self, cluster: str) -> tuple[int, dict, NextPageModel]:
        stored = self._db.get(cluster)
        if not stored or len(stored) != 3 or stored[2].kind != self._learner.config.model:
            # none yet, of an older format, or of another kind (PAGEPILOT_MODEL changed):
            # learn it from the log
            return -1, {}, self._learner.new_model()
        return stored

    def close(self) -> None:
        if self._rdict is not None:
            self._rdict.close()
            self._rdict = None


def read_steps(config: Settings, partition: int, start: int, end: int, cluster: str) -> list[Step]:
    """The steps of ``cluster`` at offsets ``start..end`` of one steps partition (blocking)."""
    tp = TopicPartition(config.steps_topic, partition)
    consumer = KafkaConsumer(**config.kafka_options(), enable_auto_commit=False, group_id=None)
    steps = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, max(start, consumer.beginning_offsets([tp])[tp]))
        end = min(end, consumer.end_offsets([tp])[tp] - 1)
        while consumer.position(tp) <= end:
            for record in consumer.poll(timeout_ms=1000).get(tp, []):
                if record.offset > end:
                    break
                step = Step.from_data(json.loads(record.value))
                if step.cluster == cluster:
                    steps.append(step)
    finally:
        consumer.close()
    return steps
