"""Worker metrics: counted per worker, merged exactly, rendered for Prometheus."""

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream.core.learning.cluster import ClusterValue
from stream.core.learning.prequential import Score
from stream.worker.metrics import (LATENCY_BOUNDS_MS, STALE_AFTER_S, Histogram, WorkerMetrics,
                                   merge, prometheus_text, value_summary)


class Clock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def rec(cluster: str, latency_ms: int, publish_time: int = 10_000, cold: bool = False,
        variant: str = "default", sequence: int = 1, explored: bool = False) -> dict:
    items = [] if cold else [{"cluster": "cart", "score": 1.0, "probability": 0.2, "q": 5.0,
                              "page_value": 3.0, "propensity": 1.0, "slot_propensity": 1.0}]
    return {"session_id": "s", "event_id": f"e{publish_time}", "sequence": sequence,
            "cluster": cluster, "items": items, "cold": cold, "fallback": None,
            "variant": variant, "explored": explored,
            "ingest_time": publish_time - latency_ms, "publish_time": publish_time}


@pytest.mark.parametrize("q", [50, 95, 99])
def test_histogram_percentiles_are_within_their_bucket(q):
    values = np.random.default_rng(1).lognormal(mean=3.5, sigma=0.8, size=5000)
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    exact = np.percentile(values, q)
    i = np.searchsorted(LATENCY_BOUNDS_MS, exact)
    low, high = (LATENCY_BOUNDS_MS[i - 1] if i else 0), LATENCY_BOUNDS_MS[i]
    assert low <= histogram.percentile(q) <= high


def test_empty_histogram_has_no_percentile():
    assert Histogram().percentile(50) is None


def test_worker_counts_rates_and_recent_latency():
    clock = Clock()
    metrics = WorkerMetrics("w1", clock=clock)
    metrics.snapshot()
    for second in range(1, 71):  # 70 s at 5 events/s; latency 500 ms in the first 10 s
        clock.now += 1
        for _ in range(5):
            metrics.received()
            metrics.recommended(rec("home", 500 if second <= 10 else 20))
        metrics.snapshot()
    snap = metrics.snapshot()
    assert snap["counters"]["events_in"] == snap["counters"]["recommendations"] == 350
    assert snap["rates"]["events_in"] == pytest.approx(5.0, rel=0.11)
    assert Histogram(snap["latency"]).percentile(99) > 300  # since the start
    assert Histogram(snap["latency_window"]).percentile(99) <= 20  # the last minute only
    assert len(snap["recent"]) == 20 and snap["latest"]["home"]["cluster"] == "home"


def test_merge_sums_live_workers_and_leaves_out_silent_ones():
    clock = Clock()
    snaps = []
    for worker, events, partition in (("w1", 3, "0"), ("w2", 4, "1"), ("w3", 5, "2")):
        metrics = WorkerMetrics(worker, clock=clock)
        for n in range(events):
            metrics.received()
            metrics.recommended(rec(f"c{n}", 10, publish_time=1000 * events + n))
            metrics.scored("river", Score().scored(["a"], "a"))
            metrics.served(followed=n % 2 == 0)
        metrics.served_from(50 * events)
        metrics.dead_lettered()
        snaps.append(metrics.snapshot({"lag": {"pv": {partition: events}}, "open_sessions": events,
                                       "tables": {"sessions": events}, "memory_rss_bytes": 100}))
    snaps[2]["time"] -= STALE_AFTER_S + 1  # w3 stopped publishing
    merged = merge(snaps, now=clock.now)
    assert [w["worker"] for w in merged["workers"]] == ["w1", "w2"]
    assert merged["stale_workers"] == ["w3"]
    assert merged["counters"] == {"events_in": 7, "recommendations": 7,
                                  "cold_recommendations": 0, "dead_letters": 2,
                                  "repeats_skipped": 0, "served_scored": 7,
                                  "served_followed": 4, "outcomes": 0}
    assert merged["served"]["scored"] == 7 and merged["served"]["hit_rate"] == round(4 / 7, 4)
    assert merged["snapshot_age_ms"] == 200  # the oldest among the live workers
    assert merged["accuracy"]["river"]["total"]["events"] == 7
    assert merged["accuracy"]["river"]["total"]["top1"] == 1.0
    assert merged["lag"] == {"pv": {"0": 3, "1": 4}}
    assert merged["open_sessions"] == 7 and merged["tables"] == {"sessions": 7}
    assert merged["memory_rss_bytes"] == 200
    assert merged["latency_ms"]["count"] == 7
    assert set(merged["latest"]) == {"c0", "c1", "c2", "c3"}
    assert merged["latest"]["c0"]["publish_time"] == 4000  # w2's is the newer one


def test_prometheus_text_parses_and_carries_the_figures():
    clock = Clock()
    metrics = WorkerMetrics("w1", clock=clock)
    for latency in (5, 50, 5000, 90_000):
        metrics.received()
        metrics.recommended(rec("home", latency))
    metrics.scored("river", Score().scored(["a", "b"], "b"))
    merged = merge([metrics.snapshot({"lag": {'pv"x': {"0": 7}}})], now=clock.now)
    values = value_summary({"home": ClusterValue(value=10, page_value=4, visitors=3),
                            "cart": ClusterValue(value=20, page_value=8, visitors=1),
                            "never": ClusterValue()})
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(merged, values))}
    sample = {f.name: f.samples for f in families.values()}
    assert sample["pagepilot_events_in"][0].value == 4
    buckets = {s.labels["le"]: s.value for s in sample["pagepilot_latency_seconds"]
               if s.name.endswith("_bucket")}
    assert buckets["0.005"] == 1 and buckets["60.0"] == 3 and buckets["+Inf"] == 4
    lag = sample["pagepilot_consumer_lag"][0]
    assert lag.labels == {"topic": 'pv"x', "partition": "0"} and lag.value == 7
    hr3 = {(s.labels["model"], s.labels["window"]): s.value for s in sample["pagepilot_next_page_hr3"]}
    assert hr3["river", "total"] == 1.0 and hr3["markov", "total"] == 0.0
    assert sample["pagepilot_mean_q"][0].value == 15.0
    assert sample["pagepilot_mean_page_value"][0].value == 6.0


def test_variants_are_counted_per_worker_and_summed_for_the_group():
    clock = Clock(100.0)
    a, b = WorkerMetrics("a", clock=clock), WorkerMetrics("b", clock=clock)
    a.recommended(rec("home", 5, variant="explore", sequence=1, explored=True))
    a.recommended(rec("cart", 5, variant="explore", sequence=2))
    a.served(True, "explore")
    b.recommended(rec("home", 5, variant="default", sequence=1))
    b.recommended(rec("bags", 5, variant="explore", sequence=1))
    b.served(False, "explore")
    group = merge([a.snapshot(), b.snapshot()], now=clock.now)
    assert group["variants"] == {
        "default": {"page_views": 1, "sessions": 1, "explored": 0, "served_scored": 0,
                    "served_followed": 0, "hit_rate": None},
        "explore": {"page_views": 3, "sessions": 2, "explored": 1, "served_scored": 2,
                    "served_followed": 1, "hit_rate": 0.5}}
    text = prometheus_text(group, value_summary({}))
    assert 'pagepilot_variant_sessions_total{variant="explore"} 2' in text
    assert 'pagepilot_variant_served_hit_rate{variant="explore"} 0.5' in text
