"""The fault suite's harness: numbered page views, worker processes to kill or pause, a replay
in a child process, a private broker that may be killed, reconciliation of what came out, and
the figures of each scenario (``faults.json`` in the test artifacts directory).

Every valid page view's event id ends in ``#<sequence number>`` (its place in the replay), so
a lost or repeated answer names the event it belongs to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from consumers.tally import Tally
from producers.generator import generate
from producers.replay import encode, make_producer
from stream.config import Settings
from stream.core.models import PageView
from stream.kafka import admin, broker
from stream.kafka.credentials import BrokerError
from stream.tools.processes import WorkerProcess, wait_until_idle
from tests.integration.broker import free_port_pair, private_cache
from tests.unavailable import unavailable

SEQ = "#"


# --------------------------------------------------------------------------- valid events


def numbered_events(sessions: int, seed: int) -> list[PageView]:
    """Generated page views in the order a replay sends them; event ids end in ``#0``, ``#1``..."""
    views = sorted(generate(sessions, seed=seed), key=lambda v: (v.timestamp, v.hit_number))
    return [PageView(**{**view.asdict(), "event_id": f"{view.event_id}{SEQ}{n}"})
            for n, view in enumerate(views)]


def sequence(event_id: str) -> int:
    return int(event_id.rpartition(SEQ)[2])


def write_events(path: Path, events: list[PageView]) -> Path:
    """A ``pagepilot``-format file of ``events`` for ``pagepilot replay``."""
    path.write_bytes(b"".join(encode(view) + b"\n" for view in events))
    return path


def send(config: Settings, messages) -> int:
    """Write raw ``(key, value)`` messages to the input topic with the replay's producer."""
    producer = make_producer(config)
    count = 0
    try:
        for key, value in messages:
            producer.send(config.pageviews_topic, key=key, value=value)
            count += 1
        producer.flush()
    finally:
        producer.close()
    return count


# --------------------------------------------------------------------------- processes


class Workers:
    """The worker processes of one run, each with its own web port, state dir and log; all
    stopped when the ``with`` block ends."""

    def __init__(self, config: Settings, log_dir: Path):
        self.config, self.log_dir = config, Path(log_dir)
        self.all: list[WorkerProcess] = []
        self.expected_up: set[int] = set()  # pids that must be alive (killed ones are not)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop_all()

    def start(self, ready_timeout_s: float = 90) -> WorkerProcess:
        n = len(self.all)
        config = dataclasses.replace(self.config, web_port=free_port_pair(),
                                     data_dir=str(Path(self.config.data_dir) / f"worker-{n}"))
        worker = WorkerProcess(config, self.log_dir / f"worker-{n}.log")
        self.all.append(worker)
        return self._started(worker, ready_timeout_s)

    def restart(self, worker: WorkerProcess, ready_timeout_s: float = 90) -> WorkerProcess:
        """The same worker again (port, state dir and log kept) after it stopped or was killed."""
        self.stop(worker)
        return self._started(worker, ready_timeout_s)

    def kill(self, worker: WorkerProcess) -> None:
        """``kill -9``: no shutdown, no final commit."""
        self.expected_up.discard(worker.pid)
        worker.signal(signal.SIGKILL)
        worker.process.wait(10)

    def pause(self, worker: WorkerProcess) -> None:
        worker.signal(signal.SIGSTOP)

    def resume(self, worker: WorkerProcess) -> None:
        worker.signal(signal.SIGCONT)

    def stop(self, worker: WorkerProcess) -> None:
        self.expected_up.discard(worker.pid)
        self.resume(worker)  # a stopped process would not see SIGTERM
        worker.stop()

    def stop_all(self) -> None:
        for worker in self.all:
            if worker.process is not None:
                self.stop(worker)

    def check_alive(self) -> None:
        """Fail at once, with its log, when a worker that should be running has exited."""
        for worker in self.all:
            if worker.process is not None and worker.pid in self.expected_up and not worker.alive():
                raise AssertionError(f"worker {worker.log_path.name} exited with "
                                     f"{worker.process.returncode}:\n{worker.log_tail()}")

    def log_tails(self, lines: int = 25) -> str:
        return "\n".join(f"--- {w.log_path}\n{w.log_tail(lines)}" for w in self.all)

    def _started(self, worker: WorkerProcess, ready_timeout_s: float) -> WorkerProcess:
        worker.start(ready_timeout_s)
        self.expected_up.add(worker.pid)
        return worker


class Replay:
    """``pagepilot replay FILE ARGS`` (the real command line) in a child process; killed when
    the ``with`` block ends, if it still runs."""

    def __init__(self, config: Settings, path: Path, log_path: Path, *args: str):
        self.log_path = Path(log_path)
        env = {**os.environ, **config.to_env()}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "replay", str(path), *args], env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def __enter__(self) -> "Replay":
        return self

    def __exit__(self, *_exc) -> None:
        self.kill()

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout_s: float) -> str:
        """Its output once it exited by itself (with 0); fails otherwise."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"replay still running after {timeout_s:.0f}s:\n{self.output()}")
        assert code == 0, f"replay exited with {code}:\n{self.output()}"
        return self.output()

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class PrivateBroker:
    """An embedded broker of the test's own (free port pair, own cache dir sharing the jars), so
    killing it disturbs no other test. Clients use ``client`` (it names the running broker)."""

    def __init__(self, directory: Path):
        cache = private_cache(Path(directory))
        self.embedded = Settings(cache_dir=str(cache), broker_port=free_port_pair(),
                                 broker_heap="256m")
        self.client = dataclasses.replace(self.embedded, bootstrap_servers=self.embedded.bootstrap)

    def start(self, wait_s: float = 90) -> float:
        """Start it (on its port and data dir, also after a kill); return the seconds it took."""
        started = time.monotonic()
        broker.up(self.embedded, wait_s=wait_s)
        return time.monotonic() - started

    def kill(self) -> None:
        """``kill -9`` of the broker's JVM."""
        pid = broker.status(self.embedded).pid
        assert pid, "the private broker is not running"
        process = psutil.Process(pid)
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        broker.down(self.embedded, timeout_s=10)


@contextlib.contextmanager
def private_broker(directory: Path) -> Iterator[PrivateBroker]:
    """A :class:`PrivateBroker`, running; stopped at the end. When none can be had, the test
    is skipped, or fails under ``CI=true``."""
    try:
        instance = PrivateBroker(directory)
        instance.start()
    except BrokerError as exc:
        unavailable(f"no private broker: {exc}")
    try:
        yield instance
    finally:
        instance.stop()


def wait_for_group(config: Settings, members: int, timeout_s: float,
                   workers: Workers | None = None) -> dict[str, set[tuple[str, int]]]:
    """Until the worker group is stable with ``members`` members, each assigned partitions;
    return member id -> its (topic, partition) pairs."""
    deadline = time.monotonic() + timeout_s
    group: dict = {}
    while time.monotonic() < deadline:
        group = admin.group_members(config)
        if len(group) == members and all(group.values()):
            return group
        if workers:
            workers.check_alive()
        time.sleep(0.5)
    raise AssertionError(f"the group did not settle on {members} members with partitions in "
                         f"{timeout_s:.0f}s: {group}\n" + (workers.log_tails() if workers else ""))


# --------------------------------------------------------------------------- what came out


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    """What came out of the worker group against what went in."""

    events_in: int  # numbered valid events sent
    recommended: int  # of those, recommended at least once
    lost: list[int]  # sequence numbers of those never recommended
    duplicates: int  # repeated recommendations (same event id), dropped by readers
    foreign: int  # recommendations of event ids never sent
    dead_letters: int
    input_offsets: int  # sum of the end offsets of the input topic's partitions


class Ledger:
    """An answer is due for every numbered event; a :class:`Tally` follows what comes out
    (the recommendations and dead-letter topics, from their start)."""

    def __init__(self, config: Settings, events: list[PageView]):
        self.config = config
        self.expected = {view.event_id for view in events}
        self.tally = Tally(config).start()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *_exc) -> None:
        self.tally.stop()

    def missing(self) -> list[int]:
        return sorted(sequence(e) for e in self.expected - self.tally.publish_times().keys())

    def wait_recommended(self, timeout_s: float, count: int | None = None, dead: int = 0,
                         workers: Workers | None = None) -> float:
        """Until ``count`` numbered events (default: all) are recommended and ``dead`` dead
        letters arrived; return the seconds waited. Fails naming the events still missing, and
        at once when a worker that should run has exited."""
        count = len(self.expected) if count is None else count
        started = time.monotonic()
        while True:
            missing = self.missing()
            done = len(self.expected) - len(missing)
            if done >= count and len(self.tally.dead_letters) >= dead:
                return time.monotonic() - started
            if workers:
                workers.check_alive()
            if time.monotonic() - started > timeout_s:
                raise AssertionError(
                    f"after {timeout_s:.0f}s {done:,} of {count:,} events recommended, "
                    f"{len(self.tally.dead_letters):,} of {dead:,} dead letters; "
                    f"{len(missing):,} missing (sequence numbers {_ranges(missing)})\n"
                    + (workers.log_tails() if workers else ""))
            time.sleep(0.2)

    def recovery_after(self, moment: float) -> tuple[float, float]:
        """Seconds from ``moment`` (epoch s) to the first answer published after it, and to
        the last answer of all."""
        after = [ms / 1000 for ms in self.tally.publish_times().values() if ms / 1000 >= moment]
        assert after, "no event was recommended after the fault: it came too late to matter"
        return min(after) - moment, max(after) - moment

    def reconcile(self, idle_timeout_s: float = 120) -> Reconciliation:
        """Once the group committed everything (committed == end offsets on every partition
        of the input topic) and the output is quiet: what came out."""
        try:
            wait_until_idle(self.config, idle_timeout_s)
        except TimeoutError as exc:
            answered = len(self.expected & self.tally.publish_times().keys())
            raise AssertionError(
                f"offset commits stalled: {exc} (while {answered:,} of {len(self.expected):,} "
                f"events were recommended, {self.tally.duplicates:,} duplicates)") from None
        self._settle()
        answered = self.tally.publish_times().keys()
        ends = admin.end_offsets(self.config, [self.config.pageviews_topic])
        return Reconciliation(
            events_in=len(self.expected), recommended=len(self.expected & answered),
            lost=self.missing(), duplicates=self.tally.duplicates,
            foreign=len(answered - self.expected), dead_letters=len(self.tally.dead_letters),
            input_offsets=sum(ends.values()))

    def _settle(self, quiet_s: float = 2.0, timeout_s: float = 20.0) -> None:
        """Until nothing new arrived for ``quiet_s`` (late duplicates are counted too)."""
        deadline = time.monotonic() + timeout_s
        seen, quiet_since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = (len(self.tally.recommendations), self.tally.duplicates,
                   len(self.tally.dead_letters))
            if now != seen:
                seen, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(0.2)


def _ranges(numbers: list[int], shown: int = 12) -> str:
    """Runs of consecutive numbers, the first ``shown`` of them.

    >>> _ranges([1, 2, 3, 7])
    '1-3, 7'
    """
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:shown])
    return text + (", ..." if len(runs) > shown else "") if runs else "none"


# --------------------------------------------------------------------------- figures


def record(artifacts_dir: Path, scenario: str, result: Reconciliation,
           recovery_s: float | None, **extra) -> dict:
    """Merge this scenario's figures into ``faults.json`` and print them."""
    figures = {"events_in": result.events_in, "lost": len(result.lost),
               "duplicates_seen": result.duplicates,
               "recovery_s": None if recovery_s is None else round(recovery_s, 1),
               **{k: round(v, 1) if isinstance(v, float) else v for k, v in extra.items()}}
    path = Path(artifacts_dir) / "faults.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[scenario] = figures
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    print(f"\nfault {scenario}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return figures
