"""``pagepilot bench --soak``: does one worker's memory and state stay bounded on a long run?

Generated sessions are streamed (never held in memory) into one real worker, paced so that
at most ``max_backlog`` events are waiting for their recommendation: the figures are the
worker's, not those of a Kafka backlog. Every ``every_s`` seconds of wall time a row shows
the events produced and recommended, the worker's resident memory (children included), its
open sessions (the session table's size gauge), its state directory on disk, its consumer lag
and the event time reached. Once the session timeout has passed in event time, memory and
session state should be flat: the summary compares the maxima of the two halves of the rows
taken after it. Ctrl-C stops the run and still prints the summary.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from consumers.tally import OutputFollower
from producers.generator import SESSIONS_PER_HOUR, generate
from producers.replay import encode, make_producer
from stream.config import Settings, settings
from stream.tools.bench import PeakMemory
from stream.tools.processes import embedded_broker, run_config, worker_running

MAX_BACKLOG = 2_000  # events produced and not yet recommended
DEDUPE_WINDOW = 100_000  # recent event ids kept to recognise a repeated recommendation
STALL_S = 300.0  # at the end, stop waiting when nothing was recommended for this long
FLAT_TOLERANCE = 0.10  # a second-half maximum this much above the first half's is growth
MB = 2**20


@dataclasses.dataclass(frozen=True)
class Sample:
    """What the soak measured ``wall_s`` seconds after the worker was ready."""

    wall_s: float
    produced: int
    recommended: int
    rss_bytes: int  # worker and its children, now
    peak_rss_bytes: int  # highest since the start
    interval_rss_bytes: int  # highest since the previous sample
    open_sessions: int | None  # None: the worker's gauges could not be read
    state_bytes: int  # the worker's data directory on disk, as du counts it
    state_parts: dict  # the same by part: "shards" (the checkpoints), ...
    lag: int | None  # page views and steps the worker has not read yet
    event_time_ms: int | None  # latest event time recommended


@dataclasses.dataclass
class SoakResult:
    """The rows of a soak and its totals."""

    sessions: int
    timeout_ms: int
    samples: list[Sample] = dataclasses.field(default_factory=list)
    produced: int = 0
    failed: int = 0  # sends the broker did not acknowledge
    recommended: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    first_event_ms: int | None = None
    interrupted: bool = False
    complete: bool = False


def run_soak(sessions: int = 1_000_000, every_s: float = 60.0, seed: int = 7,
             sessions_per_hour: float = SESSIONS_PER_HOUR) -> int:
    """``pagepilot bench --soak``: a soak on fresh topics of the local broker; exit code."""
    base = settings()
    run_id = f"soak-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="pagepilot-soak-") as tmp, embedded_broker(base):
        config = run_config(base, run_id, str(Path(tmp) / "data"))
        result = soak(config, Path(tmp), sessions, every_s, seed, sessions_per_hour)
    return 130 if result.interrupted else (0 if result.complete else 1)


def soak(config: Settings, log_dir: Path, sessions: int, every_s: float = 60.0, seed: int = 7,
         sessions_per_hour: float = SESSIONS_PER_HOUR, max_backlog: int = MAX_BACKLOG,
         out=None, app: str = "stream.worker.app") -> SoakResult:
    """Replay ``sessions`` generated sessions through one worker (of Faust app ``app``) on
    ``config``'s topics (created, and deleted at the end); print a row every ``every_s`` s
    and a summary."""
    out = out or sys.stdout
    result = SoakResult(sessions, int(config.session_timeout_s * 1000))
    events = generate(sessions, seed=seed, sessions_per_hour=sessions_per_hour)
    with worker_running(config, log_dir, app=app) as worker:
        run = _Run(config, worker, result, every_s, max_backlog, out)
        try:
            run.produce(events)
            run.drain()
        except KeyboardInterrupt:
            result.interrupted = True
            print("\ninterrupted: stopping ...", file=sys.stderr, flush=True)
        except _WorkerExited as exc:
            print(f"\n{exc}", file=sys.stderr, flush=True)
        finally:
            run.close()
    print_summary(result, out)
    return result


class _WorkerExited(RuntimeError):
    pass


class _Run:
    """The producer loop of one soak, which also takes the samples when they are due."""

    def __init__(self, config: Settings, worker, result: SoakResult, every_s: float,
                 max_backlog: int, out):
        self.config, self.worker, self.result, self.out = config, worker, result, out
        self.every_s, self.max_backlog = every_s, max_backlog
        self.memory = PeakMemory(worker.pid).start()
        self.answers = _Answers(config).start()
        self.started = time.monotonic()
        self._due = self.started + every_s
        print(f"soak: {result.sessions:,} generated sessions through one worker, at most "
              f"{max_backlog:,} events waiting; a row every {every_s:g} s "
              f"(worker log: {worker.log_path})", file=out)
        print(_header(), file=out, flush=True)

    def produce(self, events) -> None:
        producer = make_producer(self.config)
        try:
            for view in events:
                self._wait_for_room()
                future = producer.send(self.config.pageviews_topic,
                                       key=view.session_id.encode(), value=encode(view))
                future.add_errback(self._failed)
                self.result.produced += 1
                if self.result.first_event_ms is None:
                    self.result.first_event_ms = view.timestamp
                self._sample_when_due()
        finally:
            producer.flush()
            producer.close()

    def drain(self) -> None:
        """Wait until every acknowledged event has its recommendation (or nothing moves)."""
        last, moved = -1, time.monotonic()
        while self.answers.recommended < self.result.produced - self.result.failed:
            if self.answers.recommended != last:
                last, moved = self.answers.recommended, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                print(f"\nnothing recommended for {STALL_S:.0f} s: giving up",
                      file=sys.stderr, flush=True)
                return
            self._idle()
        self.result.complete = True

    def close(self) -> None:
        """A last row (while the worker runs), then stop measuring."""
        if self.worker.alive():
            self._sample(last=True)
        self.answers.stop()
        self.memory.stop()
        self.result.recommended = self.answers.recommended
        self.result.duplicates = self.answers.duplicates
        self.result.dead_letters = self.answers.dead_letters

    def _wait_for_room(self) -> None:
        while self.result.produced - self.answers.recommended >= self.max_backlog:
            self._idle()

    def _idle(self) -> None:
        if not self.worker.alive():
            raise _WorkerExited(f"the worker exited:\n{self.worker.log_tail()}")
        self._sample_when_due()
        time.sleep(0.05)

    def _failed(self, _exc) -> None:
        self.result.failed += 1

    def _sample_when_due(self) -> None:
        now = time.monotonic()
        if now >= self._due:
            self._due = max(self._due + self.every_s, now)
            self._sample()

    def _sample(self, last: bool = False) -> None:
        open_sessions, lag = worker_gauges(self.config)
        parts = disk_usage(Path(self.config.data_dir) / self.config.app_id)
        sample = Sample(
            wall_s=time.monotonic() - self.started, produced=self.result.produced,
            recommended=self.answers.recommended, rss_bytes=self.memory.current,
            peak_rss_bytes=self.memory.peak, interval_rss_bytes=self.memory.interval_peak(),
            open_sessions=open_sessions, lag=lag, state_bytes=sum(parts.values()),
            state_parts=parts, event_time_ms=self.answers.event_time_ms)
        previous = self.result.samples[-1] if self.result.samples else None
        self.result.samples.append(sample)
        print(_row(sample, previous, last), file=self.out, flush=True)


class _Answers(OutputFollower):
    """Counts what the worker answered, in constant memory (a Tally keeps every
    recommendation): unique recommendations, repeats of one of the last
    :data:`DEDUPE_WINDOW` event ids, the latest event time, and dead letters."""

    def __init__(self, config: Settings):
        super().__init__(config)
        self.recommended = self.duplicates = self.dead_letters = 0
        self.event_time_ms: int | None = None
        self._recent: collections.deque = collections.deque()
        self._seen: set[str] = set()

    def _on_rec(self, data: dict) -> None:
        event_id = data["event_id"]
        if event_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(event_id)
        self._recent.append(event_id)
        if len(self._recent) > DEDUPE_WINDOW:
            self._seen.discard(self._recent.popleft())
        self.event_time_ms = max(self.event_time_ms or 0, data["event_time"])
        self.recommended += 1

    def _on_dead(self, _data: dict) -> None:
        self.dead_letters += 1


def worker_gauges(config: Settings) -> tuple[int | None, int | None]:
    """The worker's open sessions and consumer lag (page views and steps), from its web
    server's ``/api/metrics?scope=worker``; None when it does not answer in time."""
    host = "127.0.0.1" if config.web_host in ("0.0.0.0", "::") else config.web_host
    url = f"http://{host}:{config.web_port}/api/metrics?scope=worker"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            figures = json.load(response)
    except (OSError, ValueError):
        return None, None
    if not figures.get("workers"):  # its snapshot is stale: the gauges are not current
        return None, None
    lag = sum(n for partitions in figures["lag"].values() for n in partitions.values())
    return figures["tables"].get("sessions", figures["open_sessions"]), lag


def disk_usage(datadir: Path) -> dict[str, int]:
    """Bytes on disk of a worker's data directory, as ``du`` counts them, by part: each
    directory under it (``shards``: the checkpoints of sessions and models). Files that vanish
    while they are counted (RocksDB compacts) are skipped.

    >>> disk_usage(Path("/nonexistent"))
    {}
    >>> _part(Path("shards/000012.sst"))
    'shards'
    """
    parts: dict[str, int] = {}
    for root, _dirs, files in os.walk(datadir):
        for name in files:
            path = Path(root, name)
            try:
                size = path.lstat().st_blocks * 512
            except FileNotFoundError:
                continue
            part = _part(path.relative_to(datadir))
            parts[part] = parts.get(part, 0) + size
    return parts


def _part(relative: Path) -> str:
    return relative.parts[0]


def halves(result: SoakResult) -> dict[str, tuple[float, float]] | None:
    """Max of the first and of the second half of the rows taken once the session timeout
    had passed in event time: RSS (MB), open sessions and state dir (MB); None with fewer
    than two such rows.

    >>> rows = [Sample(t, 0, 0, 0, 0, mb * MB, n, mb * MB, {}, 0, t * 60_000)
    ...         for t, (mb, n) in enumerate([(50, 9), (90, 40), (100, 50), (99, 45), (98, 44)])]
    >>> compared = halves(SoakResult(1, timeout_ms=60_000, samples=rows, first_event_ms=0))
    >>> compared["RSS MB"], compared["open sessions"]
    ((100.0, 99.0), (50, 45))
    """
    if result.first_event_ms is None:
        return None
    after = [s for s in result.samples if s.event_time_ms is not None
             and s.event_time_ms - result.first_event_ms >= result.timeout_ms]
    if len(after) < 2:
        return None
    first, second = after[:len(after) // 2], after[len(after) // 2:]

    def both(value) -> tuple:
        known = [[value(s) for s in part if value(s) is not None] for part in (first, second)]
        return tuple(max(part) if part else None for part in known)

    return {"RSS MB": both(lambda s: s.interval_rss_bytes / MB),
            "open sessions": both(lambda s: s.open_sessions),
            "shards MB": both(lambda s: s.state_parts.get("shards", 0) / MB),
            "state dir MB": both(lambda s: s.state_bytes / MB)}


def print_summary(result: SoakResult, out=None) -> None:
    out = out or sys.stdout
    last = result.samples[-1] if result.samples else None
    status = ("interrupted" if result.interrupted
              else "complete" if result.complete else "INCOMPLETE")
    wall = last.wall_s if last else 0.0
    rate = result.recommended / wall if wall else 0.0
    print(f"\nsoak summary ({status}): {result.produced:,} events of "
          f"{result.sessions:,} sessions produced, {result.recommended:,} recommended "
          f"(unique) in {_clock(wall)} ({rate:,.0f}/s); {result.duplicates:,} repeated, "
          f"{result.dead_letters:,} dead letters, {result.failed:,} sends failed", file=out)
    if last is None:
        print("  nothing was measured", file=out, flush=True)
        return
    if result.first_event_ms is not None and last.event_time_ms is not None:
        days = (last.event_time_ms - result.first_event_ms) / 86_400_000
        print(f"  event time {_date(result.first_event_ms)} -> {_date(last.event_time_ms)} "
              f"({days:,.1f} days; session timeout {result.timeout_ms / 60_000:g} min)", file=out)
    print(f"  last row: worker RSS {last.rss_bytes / MB:,.0f} MB (peak "
          f"{last.peak_rss_bytes / MB:,.0f} MB, children included), open sessions "
          f"{_or_dash(last.open_sessions)}, state dir {last.state_bytes / MB:,.1f} MB", file=out)
    parts = sorted(last.state_parts.items(), key=lambda kv: -kv[1])
    print("  state dir by part: " + ", ".join(f"{name} {size / MB:,.1f} MB"
                                             for name, size in parts), file=out)
    compared = halves(result)
    if compared is None:
        print("  too few rows after the session timeout to compare halves", file=out, flush=True)
        return
    parts = [f"{name} {_growth(*pair)}" for name, pair in compared.items()]
    print("  after the session timeout, max of 1st half -> 2nd half: " + "; ".join(parts),
          file=out, flush=True)


def _growth(before, after) -> str:
    if before is None or after is None:
        return "unknown"
    change = (after - before) / before if before else 0.0
    verdict = "GREW" if after > before * (1 + FLAT_TOLERANCE) else "flat"
    return f"{_number(before)} -> {_number(after)} ({change:+.0%}, {verdict})"


_COLUMNS = (("wall", 8), ("produced", 10), ("recommended", 12), ("rate/s", 7), ("lag", 6),
            ("sessions", 9), ("RSS MB", 7), ("peak MB", 8), ("state MB", 9),
            ("shards MB", 9), ("event time", 17))


def _header() -> str:
    return " ".join(name.rjust(width) for name, width in _COLUMNS)


def _row(sample: Sample, previous: Sample | None, last: bool) -> str:
    since = previous or Sample(0, 0, 0, 0, 0, 0, None, 0, {}, None, None)
    seconds = sample.wall_s - since.wall_s
    rate = (sample.recommended - since.recommended) / seconds if seconds > 0 else 0.0
    cells = (_clock(sample.wall_s), f"{sample.produced:,}", f"{sample.recommended:,}",
             f"{rate:,.0f}", _or_dash(sample.lag), _or_dash(sample.open_sessions),
             f"{sample.rss_bytes / MB:,.0f}", f"{sample.peak_rss_bytes / MB:,.0f}",
             f"{sample.state_bytes / MB:,.1f}",
             f"{sample.state_parts.get('shards', 0) / MB:,.1f}",
             _date(sample.event_time_ms) if sample.event_time_ms else "-")
    line = " ".join(cell.rjust(width) for cell, (_name, width) in zip(cells, _COLUMNS))
    return line + ("  (end)" if last else "")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _or_dash(value) -> str:
    return "-" if value is None else f"{value:,}"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
