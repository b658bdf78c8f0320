from stream.models import PageView
from stream.policy import EXIT
from stream.sessions import SessionState, advance, expired

T0 = 1_501_591_568_000
TIMEOUT = 30 * 60 * 1000


def view(n: int, seconds: int) -> PageView:
    return PageView(event_id=f"s-{n}", session_id="s", visitor_id="v",
                    timestamp=T0 + seconds * 1000, page_path="/p")


def test_a_gap_longer_than_the_timeout_ends_the_session_and_starts_a_new_one():
    state, _ = advance(None, view(1, 0), "cart", offset=1, ingest_time=0, timeout_ms=TIMEOUT)
    state, steps = advance(state, view(2, 31 * 60), "home", offset=2, ingest_time=0,
                           timeout_ms=TIMEOUT)
    assert [(s.cluster, s.serve, s.learn_next) for s in steps] == [
        ("cart", False, EXIT), ("home", True, None)]
    assert state.hits == 1 and state.cluster == "home"


def test_a_redelivered_page_view_is_served_again_but_not_learned():
    state, _ = advance(None, view(1, 0), "home", offset=5, ingest_time=0, timeout_ms=TIMEOUT)
    state, _ = advance(state, view(2, 10), "cart", offset=6, ingest_time=0, timeout_ms=TIMEOUT)
    again, steps = advance(state, view(2, 10), "cart", offset=6, ingest_time=0,
                           timeout_ms=TIMEOUT)
    assert again == state
    assert [(s.cluster, s.serve, s.learn_next) for s in steps] == [("cart", True, None)]


def test_late_events_do_not_move_the_session_clock_back():
    state, _ = advance(None, view(1, 100), "home", offset=1, ingest_time=0, timeout_ms=TIMEOUT)
    state, _ = advance(state, view(2, 50), "home", offset=2, ingest_time=0, timeout_ms=TIMEOUT)
    assert state.last_time == T0 + 100_000


def test_expiry_follows_event_time():
    state = SessionState(cluster="home", last_time=T0, offset=1, hits=1)
    assert not expired(state, T0 + TIMEOUT, TIMEOUT)
    assert expired(state, T0 + TIMEOUT + 1, TIMEOUT)


def test_stored_state_round_trips_and_ignores_keys_stored_beside_it():
    state = SessionState(cluster="home", last_time=T0, offset=1, hits=2)
    assert SessionState.from_json(state.to_json() | {"partition": 3}) == state
