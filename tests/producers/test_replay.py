import io

from producers.generator import write_sample
from producers.replay import Pacing, ReplayStats, read_events


def test_speed_pacing_follows_the_original_timestamps():
    pacing = Pacing(speed=10)
    # 20 s of original time at 10x is 2 s of wall time; 0.5 s have passed
    assert pacing.delay(sent=5, event_ms=21_000, first_ms=1_000, elapsed=0.5) == 1.5


def test_max_rate_pacing_spaces_events_evenly():
    assert Pacing(max_rate=100).delay(sent=50, event_ms=0, first_ms=0, elapsed=0.2) == 0.3


def test_no_pacing_never_waits():
    assert Pacing().delay(sent=10**6, event_ms=10**9, first_ms=0, elapsed=0.0) == 0.0


def test_read_events_orders_by_time_and_reports_bad_rows_with_line_numbers(tmp_path):
    sample = tmp_path / "views.jsonl"
    write_sample(sample, 30, seed=2)
    lines = sample.read_text().splitlines()
    lines.reverse()                      # out of time order
    lines.insert(2, "{broken")           # becomes line 3
    sample.write_text("\n".join(lines) + "\n")
    stats, err = ReplayStats(), io.StringIO()
    events = read_events(str(sample), stats=stats, err=err)
    assert len(events) == len(lines) - 1 and stats.rejected == 1
    assert err.getvalue().startswith(f"{sample}:3: rejected: ")
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    for session in {e.session_id for e in events}:
        hits = [e.hit_number for e in events if e.session_id == session]
        assert hits == sorted(hits)
