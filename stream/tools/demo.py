"""``pagepilot demo``: the whole system on the bundled sample, start to summary.

Broker up when needed, fresh topics for this run, a worker, the generated GStore-like
sample replayed with a few malformed messages mixed in, recommendations counted, a
summary, and everything it started stopped again (also on Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from consumers.tally import Tally
from consumers.watch import experiment_lines
from producers.generator import generate
from producers.malformed import malformed_messages
from producers.replay import Pacing, make_producer, replay
from stream.config import Settings, settings
from stream.core.experiments import Experiment
from stream.tools.processes import embedded_broker, run_config, worker_running
from stream.tools.progress import Progress


BUNDLED_EXPERIMENT = Path(__file__).with_name("demo_experiment.toml")


def run_demo(sessions: int, seed: int, max_rate: float | None,
             malformed: int = 24, timeout_s: float = 600.0, stay: bool = False,
             experiment: str | None = None) -> int:
    base = settings()
    run_id = f"demo-{int(time.time())}"
    if experiment:
        experiment = str(BUNDLED_EXPERIMENT if experiment == "bundled" else experiment)
        Experiment.from_toml(experiment)  # a bad file stops the demo before anything starts
        base = dataclasses.replace(base, experiment=experiment)
    with tempfile.TemporaryDirectory(prefix="pagepilot-demo-") as tmp:
        config = run_config(base, run_id, tmp)
        with embedded_broker(config), worker_running(config, Path(tmp)):
            print(f"live dashboard: {dashboard_url(config)}  (terminal: pagepilot watch)",
                  flush=True)
            tally = Tally(config).start()
            try:
                events = list(generate(sessions, seed=seed))
                stats = _replay_with_bad(config, events, malformed, Pacing(max_rate=max_rate))
                print(stats.summary())
                done = tally.wait_for(len(events), malformed, timeout_s,
                                      progress=Progress("recommendations", total=len(events)))
                _print_summary(tally, stats, len(events), malformed, done)
                _print_scores(worker_scores(config))
                if experiment:
                    _print_experiment(config, experiment)
            finally:
                tally.stop()
            if stay:
                _stay(config)
    return 0 if done else 1


def dashboard_url(config: Settings) -> str:
    return f"http://{config.web_host}:{config.web_port}/dashboard/"


def _stay(config: Settings) -> None:
    """Keep the worker (and its dashboard) up until Ctrl-C."""
    print(f"\nThe worker keeps running: {dashboard_url(config)}  (Ctrl-C stops everything)",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping ...", flush=True)


def _replay_with_bad(config: Settings, events: list, malformed: int, pacing: Pacing):
    producer = make_producer(config)
    try:
        for _kind, key, value in malformed_messages(malformed):
            producer.send(config.pageviews_topic, key=key, value=value)
        return replay(events, producer, config.pageviews_topic, pacing=pacing, total=len(events))
    finally:
        producer.close()


def _print_summary(tally: Tally, stats, events: int, malformed: int, done: bool) -> None:
    p50, p99 = tally.latency_percentiles(50, 99)
    recs = list(tally.recommendations.values())
    warm = [rec for rec in recs if not rec.cold]
    latest = {rec.session_id: rec for rec in warm}  # the last answer of each session
    print("\nSome recommendations:")
    for rec in list(latest.values())[-5:]:
        items = ", ".join(f"{item.cluster} (p {item.probability:.2f}, Q {item.q:.0f})"
                          for item in rec.items)
        print(f"  {rec.session_id} on {rec.cluster}:\n      {items}")
    rows = [
        ("events in (valid)", f"{events:,}"),
        ("malformed messages in", f"{malformed:,}"),
        ("recommendations out (unique events)", f"{len(recs):,}"),
        ("  of which cold start (no recommendation yet)", f"{len(recs) - len(warm):,}"),
        ("duplicate recommendations (dropped by event id)", f"{tally.duplicates:,}"),
        ("dead letters", f"{len(tally.dead_letters):,}"),
        ("replay rate", f"{stats.rate:,.0f} events/s"),
        ("worker rate", f"{tally.publish_rate:,.0f} events/s"),
        ("latency ingest->publish p50 / p99", f"{p50:,.0f} / {p99:,.0f} ms"),
        (f"served HR@{top_k(recs)}: next page among the recommended", _share(served(recs))),
        ("distinct recommendation lists (clusters in order)", f"{distinct_lists(warm):,}"),
    ]
    print("\nSummary" + ("" if done else " (INCOMPLETE: timed out waiting for the worker)"))
    for label, value in rows:
        print(f"  {label:<50} {value:>16}")
    reasons = sorted({letter.reason.split(":")[0] for letter in tally.dead_letters})
    print(f"  dead-letter reasons: {'; '.join(reasons)}")



def served(recs) -> tuple[int, int]:
    """(followed, scored): of the recommendations that had a next page view in their session,
    how many had that page's cluster among their items (served hit rate).

    >>> from types import SimpleNamespace as R
    >>> a = R(session_id="s", sequence=1, cluster="home", items=[R(cluster="cart")])
    >>> b = R(session_id="s", sequence=2, cluster="cart", items=[R(cluster="home")])
    >>> c = R(session_id="s", sequence=3, cluster="bags", items=[])
    >>> served([c, a, b])
    (1, 2)
    """
    followed = scored = 0
    ordered = sorted(recs, key=lambda rec: (rec.session_id, rec.sequence))
    for previous, rec in zip(ordered, ordered[1:]):
        if rec.session_id == previous.session_id and rec.sequence == previous.sequence + 1:
            scored += 1
            followed += rec.cluster in {item.cluster for item in previous.items}
    return followed, scored


def distinct_lists(recs) -> int:
    """How many different lists of recommended clusters were published.

    >>> from types import SimpleNamespace as R
    >>> distinct_lists([R(items=[R(cluster="a"), R(cluster="b")]), R(items=[R(cluster="a")]),
    ...                 R(items=[R(cluster="a"), R(cluster="b")])])
    2
    """
    return len({tuple(item.cluster for item in rec.items) for rec in recs})


def top_k(recs) -> int:
    return max((len(rec.items) for rec in recs), default=0)


def _share(counts: tuple[int, int]) -> str:
    followed, scored = counts
    return f"{followed / scored:.3f} of {scored:,}" if scored else "-"


def worker_scores(config: Settings) -> dict:
    """The worker's prequential scores, from its web server."""
    url = f"http://{config.web_host}:{config.web_port}/api/scores/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def settled_metrics(config: Settings, quiet_s: float = 3.0, timeout_s: float = 30.0) -> dict:
    """The worker's merged metrics once its outcome count has not moved for ``quiet_s``."""
    url = f"http://{config.web_host}:{config.web_port}/api/metrics"
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            figures = json.load(response)
        count = figures["counters"]["outcomes"]
        if count != last:
            last, since = count, time.monotonic()
        if time.monotonic() - since >= quiet_s or time.monotonic() > deadline:
            return figures
        time.sleep(0.5)


def _print_experiment(config: Settings, path: str) -> None:
    figures = settled_metrics(config)
    print(f"\nExperiment ({path}), from the outcomes of the sessions that ended "
          f"({figures['counters']['outcomes']:,} recommendations):")
    for line in experiment_lines(figures["experiment"], figures["variants"]):
        print(f"  {line}")
    print("  A replay's visitors do not react to what is shown: the arms differ in HR@k and "
          "followed value,\n  value per session and conversion only by chance "
          "(docs/experiments.md).")


def _print_scores(scores: dict) -> None:
    print("\nNext-page accuracy, prequential (predict, then learn), all transitions:")
    print(f"  {'model':<10}{'events':>9}{'top1':>8}{'HR@3':>8}{'HR@5':>8}{'MRR':>8}"
          f"{'HR@3 last 1000':>16}")
    for name, score in scores.items():
        total, window = score["total"], score["window"]
        print(f"  {name:<10}{total['events']:>9,}{total['top1']:>8.3f}{total['hr3']:>8.3f}"
              f"{total['hr5']:>8.3f}{total['mrr']:>8.3f}{window['hr3']:>16.3f}")
