"""``pagepilot bench``: the PagePilot worker against bare Faust pass-throughs (one awaiting
each send, one batched with ``send_soon``), each measured on the same local broker in one run.

For each app, on fresh topics with a fresh worker process: N events are loaded first and
drained (throughput), then more are replayed at each paced rate, each phase on an idle worker
(latency from Kafka ingest to publish). Messages per page view counts what the app wrote to
every topic of its run. The worker also answers HTTP lookups of its sessions' latest
recommendations. ``pagepilot bench --soak`` (a long run of one worker, its memory and state
over time) is :mod:`stream.tools.soak`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
from kafka.admin import KafkaAdminClient

from consumers.tally import Tally
from producers.generator import generate
from producers.replay import Pacing, make_producer, replay
from stream.config import Settings, settings
from stream.kafka import admin
from stream.tools.processes import embedded_broker, run_config, wait_until_idle, worker_running


@dataclasses.dataclass(frozen=True)
class App:
    label: str
    module: str
    env: dict = dataclasses.field(default_factory=dict)  # extra environment of its process


WORKER = App("pagepilot worker", "stream.worker.app")
APPS = (WORKER,
        App("faust pass-through (await send)", "stream.tools.passthrough",
            {"PAGEPILOT_PASSTHROUGH": "await"}),
        App("faust pass-through (batched)", "stream.tools.passthrough",
            {"PAGEPILOT_PASSTHROUGH": "batched"}))
PACED_MIN_EVENTS, PACED_MIN_S = 2000, 10.0
LOOKUPS = 500
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_bench(events: int = 20000, rates=(100.0, 1000.0), as_json: bool = False) -> int:
    """Measure every app; print the table, or with ``as_json`` one JSON object (progress
    goes to standard error then)."""
    if events < 1 or not rates or min(rates) <= 0:
        raise ValueError("--events and every --rate must be positive")
    rates = list(dict.fromkeys(rates))
    with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
        replay_rate, apps = _measure_all(events, rates)
    report = bench_report(events, replay_rate, apps)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def _measure_all(events: int, rates) -> tuple[float, dict[str, dict]]:
    needed = events + sum(paced_count(rate) for rate in rates)
    backlog, paced = split_sample(list(itertools.islice(generate(needed, seed=11), needed)),
                                  events, rates)
    replay_rate, apps = 0.0, {}
    with tempfile.TemporaryDirectory(prefix="pagepilot-bench-") as tmp, \
            embedded_broker(settings()):
        for index, app in enumerate(APPS):
            run_id = f"bench-{index}-{int(time.time())}"
            config = run_config(settings(), run_id, str(Path(tmp) / run_id))
            admin.ensure_topics(config, config.topic_partitions())
            produced = _produce(config, backlog)
            replay_rate = replay_rate or produced  # before any worker ran
            apps[app.label] = _measure_app(config, app, Path(tmp), backlog, paced)
    return replay_rate, apps


def paced_count(rate: float) -> int:
    """Events of the phase paced at ``rate``: at least PACED_MIN_EVENTS and PACED_MIN_S."""
    return max(PACED_MIN_EVENTS, int(rate * PACED_MIN_S))


def split_sample(sample: list, events: int, rates) -> tuple[list, dict[float, list]]:
    """The backlog (the first ``events``) and, after it, the events of each paced rate."""
    bounds = list(itertools.accumulate((paced_count(rate) for rate in rates), initial=events))
    return sample[:events], {rate: sample[start:end]
                             for rate, start, end in zip(rates, bounds, bounds[1:])}


def _produce(config, events, pacing=Pacing()) -> float:
    producer = make_producer(config)
    try:
        return replay(events, producer, config.pageviews_topic, pacing=pacing,
                      total=len(events)).rate
    finally:
        producer.close()


def _measure_app(config: Settings, app: App, tmp: Path, backlog: list,
                 paced: dict[float, list]) -> dict:
    before = _written(config)
    page_views = len(backlog) + sum(map(len, paced.values()))
    with worker_running(config, tmp / config.app_id, app=app.module,
                        extra_env=app.env) as worker:
        memory = PeakMemory(worker.pid).start()
        tally = Tally(config).start()
        try:
            _wait_answered(tally, len(backlog), app, timeout_s=900)
            throughput = tally.publish_rate
            latency = {rate_key(rate): _paced_latency(config, tally, app, events, rate)
                       for rate, events in paced.items()}
            wait_until_idle(config, timeout_s=300)
            messages = offset_growth(before, _written(config))
            lookups = _lookups(config, paced) if app == WORKER else None
        finally:
            tally.stop()
            memory.stop()
    return {"module": app.module, "env": app.env, "events_per_s": round(throughput, 1),
            "latency_ms": latency, "page_views": page_views, "messages_by_topic": messages,
            "messages_per_page_view": messages_per_page_view(messages, page_views),
            "peak_rss_mb": round(memory.peak / 2**20, 1), "http_lookup": lookups}


def _paced_latency(config, tally: Tally, app: App, events: list, rate: float) -> dict:
    wait_until_idle(config, timeout_s=300)  # each paced phase starts on an idle worker
    start, answered = len(tally.latencies_ms), len(tally.recommendations)
    _produce(config, events, Pacing(max_rate=rate))
    _wait_answered(tally, answered + len(events), app, timeout_s=300)
    return {"events": len(events), **latency_summary(tally.latencies_ms[start:])}


def _wait_answered(tally: Tally, count: int, app: App, timeout_s: float) -> None:
    if not tally.wait_for(count, timeout_s=timeout_s):
        raise TimeoutError(f"{app.label}: {len(tally.recommendations):,} of {count:,} page "
                           f"views answered after {timeout_s:.0f} s")


def latency_summary(values, qs=(50, 95, 99)) -> dict:
    ordered = sorted(values)
    return {f"p{q}_ms": _percentile(ordered, q) for q in qs}


def _percentile(values: list, q: float):
    return values[min(len(values) - 1, int(len(values) * q / 100))] if values else None


def rate_key(rate: float) -> str:
    return str(int(rate)) if rate == int(rate) else str(rate)


# ----------------------------------------------------------------- messages per page view


def _written(config: Settings) -> dict[str, int]:
    """Messages so far in every topic of the run that its app writes."""
    with contextlib.closing(KafkaAdminClient(**config.kafka_options(),
                                             client_id="pagepilot-bench")) as client:
        names = [name for name in client.list_topics() if topic_role(config, name)]
    return topic_totals(config, admin.end_offsets(config, names))


def topic_role(config: Settings, topic: str) -> str | None:
    """The short name of a topic the run's app writes: an output topic, or Faust's
    ``<app_id>-...`` (changelogs, assignor); None for any other topic."""
    if topic.startswith(f"{config.app_id}-"):
        return topic[len(config.app_id) + 1:]
    return {config.recommendations_topic: "recommendations",
            config.outcomes_topic: "outcomes", config.snapshots_topic: "snapshots", config.metrics_topic: "metrics",
            config.dead_letter_topic: "dead letters"}.get(topic)


def topic_totals(config: Settings, end_offsets: dict) -> dict[str, int]:
    """Per topic role, the sum of the end offsets of its partitions."""
    totals = collections.Counter()
    for partition, offset in end_offsets.items():
        totals[topic_role(config, partition.topic)] += offset
    return dict(totals)


def offset_growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {role: after[role] - before.get(role, 0) for role in sorted(after)}


def messages_per_page_view(messages: dict[str, int], page_views: int) -> float:
    return round(sum(messages.values()) / page_views, 3)


# ----------------------------------------------------------------- HTTP lookups


def lookup_sessions(events: list, n: int) -> list[str]:
    """``n`` session ids of ``events``, the most recently seen first, repeated if too few."""
    latest = list(dict.fromkeys(view.session_id for view in reversed(events)))
    return [latest[i % len(latest)] for i in range(n)] if latest else []


def _lookups(config: Settings, paced: dict[float, list]) -> dict:
    base = f"http://{config.web_host}:{config.web_port}/api/sessions"
    statuses, latencies = collections.Counter(), []
    for session_id in lookup_sessions([e for events in paced.values() for e in events], LOOKUPS):
        url = f"{base}/{urllib.parse.quote(session_id, safe='')}/recommendation"
        started = time.perf_counter()
        statuses[str(_status(url))] += 1
        latencies.append(round((time.perf_counter() - started) * 1000, 2))
    return {"requests": len(latencies), **latency_summary(latencies, (50, 99)),
            "status": dict(sorted(statuses.items()))}


def _status(url: str) -> int:
    try:
        with _NO_PROXY.open(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:  # 404 (no open session) is an answer too
        exc.read()
        return exc.code


# ----------------------------------------------------------------- report


def bench_report(events: int, replay_rate: float, apps: dict[str, dict]) -> dict:
    """The figures of one run: the worker's headline numbers against the best bare
    pass-through, and every app's details."""
    worker = apps[WORKER.label]
    best = max((label for label in apps if label != WORKER.label),
               key=lambda label: apps[label]["events_per_s"])
    bare = apps[best]["events_per_s"]
    return {"events": events, "replay_events_per_s": round(replay_rate, 1),
            "worker_events_per_s": worker["events_per_s"], "bare_events_per_s": bare,
            "bare_best": best, "ratio": round(worker["events_per_s"] / bare, 3) if bare else None,
            **{f"p99_ms_at_{rate}": summary["p99_ms"]
               for rate, summary in worker["latency_ms"].items()},
            "messages_per_page_view": worker["messages_per_page_view"],
            "http_lookup": worker["http_lookup"], "apps": apps}


def _print_table(report: dict) -> None:
    apps = report["apps"]
    paced = apps[WORKER.label]["latency_ms"]
    header = ("component", "events/s",
              *(f"p50/p95/p99 ms @{rate}/s" for rate in paced),
              "msgs/view", "peak RSS MB")
    rows = [("replay producer", f"{report['replay_events_per_s']:,.0f}",
             *([""] * (len(header) - 2)))]
    rows += [(label, f"{app['events_per_s']:,.0f}",
              *("/".join(_ms(s[f"p{q}_ms"]) for q in (50, 95, 99))
                for s in app["latency_ms"].values()),
              f"{app['messages_per_page_view']:.2f}", f"{app['peak_rss_mb']:,.0f}")
             for label, app in apps.items()]
    phases = ", ".join(f"{s['events']:,} events at {rate}/s" for rate, s in paced.items())
    print(f"\nthroughput: {report['events']:,} events drained from a backlog; latency: Kafka "
          f"ingest -> publish, paced on an idle worker: {phases}; msgs/view: messages "
          "written to every topic of the app's run per page view")
    _print_rows((header, *rows))
    print("\nmessages per page view by topic:")
    for label, app in apps.items():
        parts = ", ".join(f"{role} {count / app['page_views']:.3f}"
                          for role, count in app["messages_by_topic"].items())
        print(f"  {label}: {parts}")
    _print_lookups(report["http_lookup"])
    ratio = f"{report['ratio']:.3f}" if report["ratio"] is not None else "-"
    print(f"{WORKER.label} throughput / best bare pass-through ({report['bare_best']}): {ratio}")


def _print_lookups(lookup: dict) -> None:
    status = ", ".join(f"{code}: {count}" for code, count in lookup["status"].items())
    print(f"\n{WORKER.label} GET /api/sessions/<id>/recommendation: {lookup['requests']} "
          f"requests, p50 {_ms(lookup['p50_ms'], 2)} ms, p99 {_ms(lookup['p99_ms'], 2)} ms "
          f"({status})")


def _print_rows(rows) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).rjust(width) if i else str(cell).ljust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))


def _ms(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


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
