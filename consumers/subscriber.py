"""Subscribe to the recommendations topic from any Python program.

Example (needs a running broker, so it is not a doctest)::

    from consumers.subscriber import subscribe

    for rec in subscribe(follow=True):
        print(rec.session_id, [item.cluster for item in rec.items])

Each :class:`~stream.core.models.Recommendation` carries the event id of the page view it
answers. Delivery is at-least-once, so the same event id can come twice; pass
``unique=True`` to drop repeats.
"""

from __future__ import annotations

import json
from typing import Callable, Iterator

from kafka import KafkaConsumer, TopicPartition

from stream.config import Settings, settings
from stream.core.models import DeadLetter, Recommendation
from stream.kafka.credentials import check_credentials

POLL_MS = 500


def subscribe(*, follow: bool = False, session_id: str | None = None, unique: bool = False,
              from_beginning: bool = True, config: Settings | None = None,
              idle_timeout_s: float | None = None) -> Iterator[Recommendation]:
    """Yield recommendations from the topic.

    Without ``follow``, stop at the end offsets seen at the start; with it, wait for new
    ones (until ``idle_timeout_s`` passes with nothing new, if given).
    """
    config = config or settings()
    seen: set[str] = set()
    for value in read_topic(config.recommendations_topic, follow=follow, config=config,
                            from_beginning=from_beginning, idle_timeout_s=idle_timeout_s):
        rec = Recommendation.from_data(json.loads(value))
        if session_id is not None and rec.session_id != session_id:
            continue
        if unique:
            if rec.event_id in seen:
                continue
            seen.add(rec.event_id)
        yield rec


def on_recommendation(callback: Callable[[Recommendation], None], **options) -> int:
    """Call ``callback`` for every recommendation (options as :func:`subscribe`); return the count."""
    count = 0
    for rec in subscribe(**options):
        callback(rec)
        count += 1
    return count


def dead_letters(*, config: Settings | None = None, follow: bool = False,
                 idle_timeout_s: float | None = None) -> Iterator[DeadLetter]:
    """Yield the dead letters of rejected input (same reading rules as :func:`subscribe`)."""
    config = config or settings()
    for value in read_topic(config.dead_letter_topic, follow=follow, config=config,
                            idle_timeout_s=idle_timeout_s):
        yield DeadLetter.from_data(json.loads(value))


def read_topic(topic: str, *, config: Settings, follow: bool = False,
               from_beginning: bool = True, idle_timeout_s: float | None = None,
               stop=None) -> Iterator[bytes]:
    """Raw message values of every partition of ``topic``, read without a consumer group.

    ``stop`` (a ``threading.Event``) ends a followed read from another thread. Refused
    credentials raise :class:`stream.kafka.credentials.BrokerError` at once, saying why.
    """
    check_credentials(config)
    consumer = KafkaConsumer(**config.kafka_options(), enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist on {config.bootstrap}")
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning()
        else:
            consumer.seek_to_end()
        end = consumer.end_offsets(partitions)
        yield from _poll(consumer, end, follow, idle_timeout_s, stop)
    finally:
        consumer.close()


def _poll(consumer, end: dict, follow: bool, idle_timeout_s: float | None, stop):
    idle_ms = 0.0
    while stop is None or not stop.is_set():
        if not follow and all(consumer.position(tp) >= offset for tp, offset in end.items()):
            return
        batches = consumer.poll(timeout_ms=POLL_MS)
        idle_ms = 0.0 if batches else idle_ms + POLL_MS
        if idle_timeout_s is not None and idle_ms >= idle_timeout_s * 1000:
            return
        for records in batches.values():
            for record in records:
                yield record.value
