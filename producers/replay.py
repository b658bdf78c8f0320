"""Replay historical page views into Kafka, keyed by session id, in event-time order.

Time is compressed by a speed factor from the original timestamps, or paced at a maximum
rate, or sent as fast as possible. Per-session order is kept: one key, one partition,
and an idempotent producer that does not reorder on retries.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Iterable, Iterator

from kafka import KafkaProducer

from producers.loaders import BadRow, iter_rows
from stream.broker import check_credentials
from stream.progress import Progress
from stream.config import Settings
from stream.models import PageView

SHOWN_BAD_ROWS = 20


@dataclasses.dataclass
class ReplayStats:
    """What a replay did; ``rejected`` are input rows that were not valid page views."""

    sent: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        verb = "interrupted after" if self.interrupted else "sent"
        return (f"replay {verb} {self.sent:,} events in {self.seconds:.1f}s "
                f"({self.rate:,.0f}/s); {self.rejected:,} input rows rejected; "
                f"{self.failed:,} sends failed")


@dataclasses.dataclass(frozen=True)
class Pacing:
    """How fast to replay: ``speed`` x real time, at most ``max_rate`` events/s, or neither."""

    speed: float | None = None
    max_rate: float | None = None

    def delay(self, sent: int, event_ms: int, first_ms: int, elapsed: float) -> float:
        """Seconds to wait before sending the next event."""
        if self.speed:
            return (event_ms - first_ms) / 1000 / self.speed - elapsed
        if self.max_rate:
            return sent / self.max_rate - elapsed
        return 0.0


def read_events(path: str, fmt: str = "auto", columns: dict | None = None,
                stats: ReplayStats | None = None, err=sys.stderr) -> list[PageView]:
    """Load a file's page views in event-time order; report bad rows with their line numbers."""
    events = []
    for row in iter_rows(path, fmt, columns):
        if isinstance(row, BadRow):
            if stats is not None:
                stats.rejected += 1
                if stats.rejected <= SHOWN_BAD_ROWS:
                    print(f"{path}:{row.line}: rejected: {row.reason}", file=err)
            continue
        events.append(row)
    # Ties in time keep hit order, then file order (the sort is stable).
    events.sort(key=lambda view: (view.timestamp, view.hit_number))
    return events


def make_producer(config: Settings) -> KafkaProducer:
    """An idempotent producer (acks=all) that batches for throughput.

    Refused credentials raise :class:`stream.broker.BrokerError` at once, saying why.
    """
    check_credentials(config)
    return KafkaProducer(**config.kafka_options(), acks="all",
                         enable_idempotence=True, linger_ms=5, batch_size=256 * 1024,
                         compression_type=None, max_block_ms=120_000)


def replay(events: Iterable[PageView], producer: KafkaProducer, topic: str, *,
           pacing: Pacing = Pacing(), limit: int | None = None,
           stats: ReplayStats | None = None, total: int | None = None) -> ReplayStats:
    """Send page views to ``topic``; stop cleanly on Ctrl-C. Returns the counts."""
    stats = stats or ReplayStats()
    progress = Progress("replay", total=min(filter(None, (total, limit)), default=None))
    started = time.monotonic()
    first_ms = None

    def failed(_exc):
        stats.failed += 1

    try:
        for view in _limited(events, limit):
            first_ms = view.timestamp if first_ms is None else first_ms
            wait = pacing.delay(stats.sent, view.timestamp, first_ms, time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
            producer.send(topic, key=view.session_id.encode(), value=encode(view)).add_errback(failed)
            stats.sent += 1
            progress.update(stats.sent, f"{stats.rejected:,} rejected")
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        producer.flush()
        stats.seconds = time.monotonic() - started
        progress.close()
    return stats


def encode(view: PageView) -> bytes:
    """The wire form of a page view: compact JSON."""
    return json.dumps(view.asdict(), separators=(",", ":")).encode()


def _limited(events: Iterable[PageView], limit: int | None) -> Iterator[PageView]:
    for count, view in enumerate(events):
        if limit is not None and count >= limit:
            return
        yield view
