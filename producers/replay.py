"""Replay historical page views into Kafka, keyed by session id, in event-time order.

Time is compressed by a speed factor from the original timestamps, or paced at a maximum
rate, or sent as fast as possible. Per-session order is kept: one key, one partition,
and an idempotent producer that does not reorder on retries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from kafka import KafkaProducer

from producers.loaders import BadRow, iter_rows, parse_column_map
from stream.config import Settings
from stream.core.models import PageView
from stream.kafka.credentials import check_credentials
from stream.tools.progress import Progress

SHOWN_BAD_ROWS = 20


@dataclasses.dataclass
class ReplayStats:
    """What a replay did; ``rejected`` are input rows that were not valid page views."""

    sent: int = 0
    skipped: int = 0  # already delivered by the replay this one resumes
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        verb = "interrupted after" if self.interrupted else "sent"
        resumed = f" (resumed: {self.skipped:,} sent before)" if self.skipped else ""
        return (f"replay {verb} {self.sent:,} events{resumed} in {self.seconds:.1f}s "
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
                stats: ReplayStats | None = None, err=None) -> list[PageView]:
    """Load a file's page views in event-time order; report bad rows with their line numbers
    (to ``err``, by default the current standard error)."""
    err = err or sys.stderr
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


def read_input(path: str | None, fmt: str, columns: str | None, sessions: int, seed: int,
               stats: ReplayStats) -> tuple[Iterable[PageView], int | None]:
    """The page views of a file (``columns`` as ``--columns`` gives it) in event-time order
    with their count, or, without a file, a stream of ``sessions`` generated sessions and
    None: the input of ``pagepilot evaluate``, ``replay`` and ``report``."""
    from producers.generator import generate

    if not path:
        return generate(sessions, seed=seed), None
    events = read_events(path, fmt, parse_column_map(columns) if columns else None, stats)
    return events, len(events)


def make_producer(config: Settings) -> KafkaProducer:
    """An idempotent producer (acks=all) that batches for throughput.

    Retries are written once (idempotence), and a broker that comes back after a crash is
    retried at least once a second (kafka-python backs off up to 30 s by default).

    Refused credentials raise :class:`stream.kafka.credentials.BrokerError` at once, saying why.
    """
    check_credentials(config)
    return KafkaProducer(**config.kafka_options(), acks="all",
                         enable_idempotence=True, linger_ms=5, batch_size=256 * 1024,
                         compression_type=None, max_block_ms=120_000,
                         reconnect_backoff_max_ms=1000)


def replay(events: Iterable[PageView], producer: KafkaProducer, topic: str, *,
           pacing: Pacing = Pacing(), limit: int | None = None,
           stats: ReplayStats | None = None, total: int | None = None,
           checkpoint: "ReplayCheckpoint | None" = None) -> ReplayStats:
    """Send page views to ``topic``; stop cleanly on Ctrl-C. Returns the counts.

    With a ``checkpoint``, the events it records as delivered are skipped, and the count of
    events delivered without a gap is recorded about once a second, so a replay that was
    killed can be resumed: nothing is missed, and what is sent twice has the same event id.
    """
    stats = stats or ReplayStats()
    progress = Progress("replay", total=min(filter(None, (total, limit)), default=None))
    started = time.monotonic()
    first_ms = None
    skip = stats.skipped = checkpoint.delivered if checkpoint else 0

    def failed(_exc):
        stats.failed += 1

    try:
        for index, view in enumerate(_limited(events, limit)):
            if index < skip:
                continue
            first_ms = view.timestamp if first_ms is None else first_ms
            wait = pacing.delay(stats.sent, view.timestamp, first_ms, time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
            future = producer.send(topic, key=view.session_id.encode(), value=encode(view))
            future.add_errback(failed)
            if checkpoint:
                future.add_callback(checkpoint.acknowledged, index)
                checkpoint.save_every(1.0)
            stats.sent += 1
            progress.update(stats.sent, f"{stats.rejected:,} rejected")
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        producer.flush()
        if checkpoint:
            checkpoint.save_every(0)
        stats.seconds = time.monotonic() - started
        progress.close()
    return stats


class ReplayCheckpoint:
    """How many events of one input the broker acknowledged without a gap, in a JSON file.

    Acknowledgements arrive out of order (partitions are sent in parallel); only the prefix
    of events that are all acknowledged counts, so resuming from it never skips one.
    """

    def __init__(self, path: Path, input_id: str, resume: bool):
        self.path, self.input_id = Path(path), input_id
        self.delivered = self._read() if resume else 0
        self._acked: set[int] = set()
        self._lock = threading.Lock()
        self._saved_at = 0.0

    @classmethod
    def for_input(cls, config: Settings, input_id: str, topic: str,
                  resume: bool) -> "ReplayCheckpoint":
        """The checkpoint of replaying ``input_id`` to ``topic``, under the cache dir."""
        name = hashlib.sha256(f"{input_id}\0{topic}".encode()).hexdigest()[:16]
        return cls(Path(config.cache_dir) / "replay" / f"{name}.json", input_id, resume)

    def acknowledged(self, index: int, _metadata=None) -> None:
        with self._lock:
            self._acked.add(index)
            while self.delivered in self._acked:
                self._acked.discard(self.delivered)
                self.delivered += 1

    def save_every(self, seconds: float) -> None:
        now = time.monotonic()
        if now - self._saved_at < seconds:
            return
        self._saved_at = now
        with self._lock:
            state = {"input": self.input_id, "delivered": self.delivered}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)  # atomic: a kill leaves the old file or the new one

    def _read(self) -> int:
        try:
            state = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        if state.get("input") != self.input_id:
            raise ValueError(f"{self.path} belongs to another input ({state.get('input')!r})")
        return int(state["delivered"])


def encode(view: PageView) -> bytes:
    """The wire form of a page view: compact JSON."""
    return json.dumps(view.asdict(), separators=(",", ":")).encode()


def _limited(events: Iterable[PageView], limit: int | None) -> Iterator[PageView]:
    for count, view in enumerate(events):
        if limit is not None and count >= limit:
            return
        yield view
