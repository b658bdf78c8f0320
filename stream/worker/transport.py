"""Faust's aiokafka transport with a short consumer fetch wait, committing only what was
processed.

Faust hard-codes ``fetch_max_wait_ms=1500`` for the worker's consumer, and aiokafka leaves
partitions that still hold buffered records out of its next fetch request. When the broker
then has nothing new for the partitions that *are* in the request, it holds the request for
the full 1.5 s, and records waiting on the other partitions
wait with it: seconds of latency at moderate load. A short wait bounds that stall; an idle
worker then sends a fetch request every 10 ms, which costs next to nothing.

Our consumer never commits past a message that was not processed. Faust does, in two ways:
around a rebalance its streams skip messages taken from their buffers (fetched under an older consumer
generation, or while the flow is stopped) and acknowledge them as if processed; and it
commits past a hole of exactly one offset at the committed position (a message never
delivered to a stream). Either lost one page view in about one run in six of the fault
suite's scenario c. A partition held back by a hole that is not read again is cured by
:mod:`stream.worker.stalls`.

Registered as the ``pagepilot://`` broker scheme through the ``faust.transports`` entry point.
The app's ``broker_credentials`` come from :func:`broker_credentials`.
"""

from __future__ import annotations

import logging

import faust
from faust.transport.drivers import aiokafka

from stream.config import Settings

log = logging.getLogger(__name__)
FETCH_MAX_WAIT_MS = 10  # 50 ms gave p50 30 ms at 1,000 page views/s paced, 10 ms 22


class ConsumerThread(aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by the fetcher at start
        return consumer


class Consumer(aiokafka.Consumer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.commit_rounds = 0  # commits completed, with or without offsets to commit

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message) -> bool:
        # A stream tracks every message it processes (acknowledged topics) and skips before
        # tracking, so an untracked message acknowledged here was skipped: not done.
        if not message.tracked and self.app.topics.acks_enabled_for(message.topic):
            log.info("%s: offset %d skipped by a stream around a rebalance; it stays "
                     "uncommitted until read again", message.tp, message.offset)
            return False
        return super().ack(message)

    def _new_offset(self, tp):
        gap = self._gap.get(tp)
        if hole_at_head(self._committed_offset.get(tp), self._acked.get(tp),
                        gap.overlaps_point if gap else None):
            return None
        return super()._new_offset(tp)

    async def force_commit(self, *args, **kwargs) -> bool:
        try:
            return await super().force_commit(*args, **kwargs)
        finally:
            self.commit_rounds += 1


def hole_at_head(committed: int | None, acked: list | None, in_fetch_gap=None) -> bool:
    """Whether the committed offset (the next one to process) is neither acknowledged nor
    in a gap the fetcher saw in the partition's offsets: then nothing may be committed.
    Faust lets a hole of exactly one offset pass here.

    >>> hole_at_head(5, [6, 7]), hole_at_head(5, [5, 6]), hole_at_head(None, [6])
    (True, False, False)
    >>> hole_at_head(5, [6, 7], in_fetch_gap=lambda offset: offset == 5)
    False
    """
    if committed is None or not acked or min(acked) <= committed:
        return False
    return not (in_fetch_gap and in_fetch_gap(committed))


class Transport(aiokafka.Transport):
    Consumer = Consumer


# Faust's and aiokafka's private parts this module relies on; tests/stream/worker/test_transport.py
# checks on the pinned versions that each still exists (a canary for an upgrade).
PRIVATE_METHODS = {aiokafka.AIOKafkaConsumerThread: ("_create_worker_consumer",),
                   aiokafka.Consumer: ("_new_offset", "_new_consumer_thread")}
PRIVATE_ATTRIBUTES = {"faust.transport.consumer.Consumer.__init__":
                      ("_gap", "_committed_offset", "_acked"),
                      "aiokafka.consumer.consumer.AIOKafkaConsumer.__init__":
                      ("_fetch_max_wait_ms",)}


def committed_offsets(consumer) -> dict:
    """Faust's committed offset per partition (the next offset to process)."""
    return consumer._committed_offset


def acknowledged_offsets(consumer) -> dict:
    """Faust's acknowledged offsets per partition that are not committed yet."""
    return consumer._acked


def broker_credentials(config: Settings) -> faust.types.auth.CredentialsT | None:
    """The worker's Kafka security, as Faust takes it (None for PLAINTEXT).

    Faust turns these into the same aiokafka options as :meth:`Settings.kafka_options`; the
    credentials' repr shows the user name only.
    """
    if config.uses_sasl:  # with a TLS context Faust speaks SASL_SSL, without SASL_PLAINTEXT
        return faust.SASLCredentials(username=config.sasl_username,
                                     password=config.sasl_password,
                                     mechanism=config.sasl_mechanism,
                                     ssl_context=config.ssl_context())
    if config.uses_tls:
        return faust.SSLCredentials(config.ssl_context())
    return None
