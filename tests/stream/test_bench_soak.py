"""``pagepilot bench --soak``: a short soak through a real worker, and its summary."""

import io

import pytest

from stream.soak import MB, Sample, SoakResult, print_summary, soak


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
    assert set(result.samples[-1].state_parts) >= {"models", "sessions table", "clusters table"}
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
                   state_bytes=10 * MB, state_parts={"sessions table": MB}, lag=0,
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
    assert "sessions table MB 1.0 -> 1.0 (+0%, flat)" in text
    assert "state dir MB 10.0 -> 10.0 (+0%, flat)" in text


def test_an_interrupted_soak_that_measured_nothing_still_prints_a_summary():
    out = io.StringIO()
    print_summary(SoakResult(sessions=10, timeout_ms=1_800_000, interrupted=True), out)
    assert "soak summary (interrupted)" in out.getvalue()
    assert "nothing was measured" in out.getvalue()
