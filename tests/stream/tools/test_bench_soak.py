"""``pagepilot bench``: its arithmetic and report; ``--soak``: a short soak through a real
worker, and its summary."""

import contextlib
import dataclasses
import io
import json

import pytest
from kafka import TopicPartition

from stream.config import Settings
from stream.tools import bench
from stream.tools.processes import run_config
from stream.tools.soak import MB, Sample, SoakResult, print_summary, soak


@pytest.mark.integration
def test_a_short_soak_measures_the_worker_row_by_row(run_settings, tmp_path):
    config = run_settings()
    out = io.StringIO()

    result = soak(config, tmp_path, sessions=300, every_s=1.0, seed=5, out=out)

    assert result.complete and not result.interrupted
    assert result.produced > 300  # every session has at least one page view
    assert result.failed == 0 and result.dead_letters == 0
    assert result.recommended == result.produced - result.failed
    assert result.samples, out.getvalue()
    assert all(s.rss_bytes > 0 and s.peak_rss_bytes >= s.rss_bytes for s in result.samples)
    assert all(s.state_bytes == sum(s.state_parts.values()) for s in result.samples)
    assert set(result.samples[-1].state_parts) == {"shards"}
    assert any(s.open_sessions is not None for s in result.samples), out.getvalue()
    assert all(s.open_sessions <= 300 for s in result.samples if s.open_sessions is not None)
    last = result.samples[-1]
    assert last.produced == last.recommended == result.produced
    assert last.event_time_ms > result.first_event_ms
    text = out.getvalue()
    assert "recommended" in text.splitlines()[1]  # the header
    assert "soak summary (complete)" in text
    assert "max of 1st half -> 2nd half" in text


def test_the_summary_says_whether_memory_and_sessions_stayed_flat():
    rows = [Sample(wall_s=t, produced=0, recommended=0, rss_bytes=mb * MB,
                   peak_rss_bytes=mb * MB, interval_rss_bytes=mb * MB, open_sessions=sessions,
                   state_bytes=10 * MB, state_parts={"shards": MB}, lag=0,
                   event_time_ms=t * 3_600_000)
            for t, (mb, sessions) in enumerate([(80, 5), (100, 40), (101, 42), (104, 41),
                                                (150, 41)])]
    result = SoakResult(sessions=10, timeout_ms=1_800_000, samples=rows, first_event_ms=0,
                        produced=5, recommended=5, complete=True)
    out = io.StringIO()

    print_summary(result, out)

    text = out.getvalue()
    assert "RSS MB 101.0 -> 150.0 (+49%, GREW)" in text
    assert "open sessions 42 -> 41 (-2%, flat)" in text
    assert "shards MB 1.0 -> 1.0 (+0%, flat)" in text
    assert "state dir MB 10.0 -> 10.0 (+0%, flat)" in text


def test_an_interrupted_soak_that_measured_nothing_still_prints_a_summary():
    out = io.StringIO()
    print_summary(SoakResult(sessions=10, timeout_ms=1_800_000, interrupted=True), out)
    assert "soak summary (interrupted)" in out.getvalue()
    assert "nothing was measured" in out.getvalue()


def test_the_backlog_and_each_paced_phase_get_their_own_events():
    sample = list(range(20_000))

    backlog, paced = bench.split_sample(sample, 500, [100.0, 1000.0])

    assert backlog == list(range(500))
    assert paced[100.0] == list(range(500, 2500))  # at least 2,000 events
    assert paced[1000.0] == list(range(2500, 12_500))  # at least 10 s
    assert bench.rate_key(1000.0) == "1000" and bench.rate_key(2.5) == "2.5"


def test_messages_per_page_view_sum_every_topic_the_app_writes():
    config = run_config(Settings(), "bench-0-1", "/tmp/unused")
    offsets = {TopicPartition(config.recommendations_topic, p): 250 for p in range(4)}
    offsets |= {TopicPartition(config.metrics_topic, 0): 40,
                TopicPartition(f"{config.app_id}-shards-changelog", 1): 60}

    after = bench.topic_totals(config, offsets)
    messages = bench.offset_growth({"metrics": 10}, after)

    assert bench.topic_role(config, config.pageviews_topic) is None  # read, not written
    assert bench.topic_role(config, "pagepilot-other-shards-changelog") is None
    assert messages == {"metrics": 30, "recommendations": 1000, "shards-changelog": 60}
    assert bench.messages_per_page_view(messages, 1000) == 1.09


def test_latency_percentiles_and_lookup_sessions():
    assert bench.latency_summary(range(100, 0, -1)) == {"p50_ms": 51, "p95_ms": 96,
                                                        "p99_ms": 100}
    assert bench.latency_summary([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    views = [dataclasses.make_dataclass("View", ["session_id"])(s) for s in "abacb"]
    assert bench.lookup_sessions(views, 5) == ["b", "c", "a", "b", "c"]
    assert bench.lookup_sessions([], 5) == []


def _app(events_per_s, p99s, messages=None, lookup=None):
    return {"module": "m", "env": {}, "events_per_s": events_per_s, "page_views": 1000,
            "latency_ms": {rate: {"events": 2000, "p50_ms": 1, "p95_ms": 2, "p99_ms": p99}
                           for rate, p99 in p99s.items()},
            "messages_by_topic": messages or {"recommendations": 1000},
            "messages_per_page_view": bench.messages_per_page_view(
                messages or {"recommendations": 1000}, 1000),
            "peak_rss_mb": 80.0, "http_lookup": lookup}


def _apps():
    lookup = {"requests": 500, "p50_ms": 1.5, "p99_ms": 4.25, "status": {"200": 480, "404": 20}}
    return {"pagepilot worker": _app(600.0, {"100": 30, "1000": 900},
                                     {"recommendations": 1000, "snapshots": 50}, lookup),
            "faust pass-through (await send)": _app(2000.0, {"100": 8, "1000": 40}),
            "faust pass-through (batched)": _app(8000.0, {"100": 60, "1000": 70})}


def test_the_report_compares_the_worker_with_the_best_bare_pass_through():
    report = bench.bench_report(5000, 9000.0, _apps())

    assert report["worker_events_per_s"] == 600.0
    assert report["bare_best"] == "faust pass-through (batched)"
    assert report["bare_events_per_s"] == 8000.0 and report["ratio"] == 0.075
    assert report["p99_ms_at_1000"] == 900 and report["p99_ms_at_100"] == 30
    assert report["messages_per_page_view"] == 1.05
    assert report["http_lookup"]["status"] == {"200": 480, "404": 20}
    assert set(report["apps"]) == set(_apps())
    assert json.loads(json.dumps(report)) == report


def test_the_table_has_a_row_per_app_and_the_ratio():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bench._print_table(bench.bench_report(5000, 9000.0, _apps()))

    text = out.getvalue()
    assert "p50/p95/p99 ms @1000/s" in text and "1/2/900" in text
    assert "2,000 events at 100/s" in text
    assert "pagepilot worker: recommendations 1.000, snapshots 0.050" in text
    assert "500 requests, p50 1.50 ms, p99 4.25 ms (200: 480, 404: 20)" in text
    assert "(faust pass-through (batched)): 0.075" in text


def test_bench_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="positive"):
        bench.run_bench(events=100, rates=[0.0])
