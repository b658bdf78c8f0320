"""``pagepilot bench``: throughput, latency and memory of the replay, the worker and a bare
Faust pass-through, each measured on the same local broker in one run.

For each app: N events are loaded first and drained by a fresh worker (throughput), then
more are replayed at a paced rate below capacity (latency from Kafka ingest to publish).
``pagepilot bench --soak`` (a long run of one worker, its memory and state over time) is
:mod:`stream.soak`.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import psutil

from consumers.tally import Tally
from producers.generator import generate
from producers.replay import Pacing, make_producer, replay
from stream import broker
from stream.config import settings
from stream.processes import embedded_broker, run_config, wait_until_idle, worker_running

APPS = (("faust pass-through", "stream.passthrough"), ("pagepilot worker", "stream.app"))


def run_bench(events: int = 20000, rate: float = 500.0) -> int:
    sample = list(generate(max(events // 7, 10) * 3, seed=11))
    backlog, paced = sample[:events], sample[events:events + int(rate * 20)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pagepilot-bench-") as tmp, \
            embedded_broker(settings()):
        for label, app in APPS:
            run_id = f"bench-{app.split('.')[-1]}-{int(time.time())}"
            config = run_config(settings(), run_id, str(Path(tmp) / run_id))
            broker.ensure_topics(config, config.topic_partitions())
            replay_rate = _produce(config, backlog)
            if not rows:
                rows.append(("replay producer", f"{replay_rate:,.0f}", "", "", "", ""))
            rows.append((label, *_measure_app(config, app, Path(tmp), backlog, paced, rate)))
    _print_table(rows, len(backlog), len(paced), rate)
    return 0


def _produce(config, events, pacing=Pacing()) -> float:
    producer = make_producer(config)
    try:
        return replay(events, producer, config.pageviews_topic, pacing=pacing,
                      total=len(events)).rate
    finally:
        producer.close()


def _measure_app(config, app: str, tmp: Path, backlog: list, paced: list, rate: float):
    with worker_running(config, tmp / config.app_id, app=app) as worker:
        memory = PeakMemory(worker.pid).start()
        tally = Tally(config).start()
        try:
            tally.wait_for(len(backlog), timeout_s=900)
            throughput = tally.publish_rate
            wait_until_idle(config, timeout_s=300)  # latency is measured on an idle worker
            before = len(tally.latencies_ms)
            _produce(config, paced, Pacing(max_rate=rate))
            tally.wait_for(len(backlog) + len(paced), timeout_s=300)
            latencies = sorted(tally.latencies_ms[before:])
        finally:
            tally.stop()
            memory.stop()
    p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
    return (f"{throughput:,.0f}", f"{p50:,.0f}", f"{p95:,.0f}", f"{p99:,.0f}",
            f"{memory.peak / 2**20:,.0f}")


def _percentile(values: list, q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q / 100))] if values else float("nan")


class PeakMemory:
    """Samples a process's resident memory (children included) every 0.2 s: the latest
    value, the peak, and the peak since the last :meth:`interval_peak` call."""

    def __init__(self, pid: int):
        self.process, self.current, self.peak = psutil.Process(pid), 0, 0
        self._interval = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> "PeakMemory":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def interval_peak(self) -> int:
        """The peak since the previous call (the current value if none was sampled since)."""
        peak, self._interval = max(self._interval, self.current), 0
        return peak

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.current = sum(p.memory_info().rss for p in procs)
            except psutil.Error:
                return
            self.peak = max(self.peak, self.current)
            self._interval = max(self._interval, self.current)


def _print_table(rows, backlog: int, paced: int, rate: float) -> None:
    header = ("component", "events/s", "p50 ms", "p95 ms", "p99 ms", "peak RSS MB")
    print(f"\nthroughput: {backlog:,} events drained from a backlog; "
          f"latency: {paced:,} events at {rate:,.0f}/s, Kafka ingest -> publish")
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).rjust(width) if i else str(cell).ljust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))
