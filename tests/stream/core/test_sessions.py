from stream.core.models import PageView
from stream.core.policy import EXIT
from stream.core.sessions import SessionState, advance, expired

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


def test_late_events_do_not_move_the_session_clock_back():
    state, _ = advance(None, view(1, 100), "home", offset=1, ingest_time=0, timeout_ms=TIMEOUT)
    state, _ = advance(state, view(2, 50), "home", offset=2, ingest_time=0, timeout_ms=TIMEOUT)
    assert state.last_time == T0 + 100_000


def state_at(cluster: str, hits: int = 1) -> SessionState:
    return SessionState(cluster=cluster, last_time=T0, offset=1, hits=hits, landing="home",
                        features={}, pages=("home",))


def test_expiry_follows_event_time():
    state = state_at("home")
    assert not expired(state, T0 + TIMEOUT, TIMEOUT)
    assert expired(state, T0 + TIMEOUT + 1, TIMEOUT)


def test_stored_state_round_trips_and_ignores_keys_stored_beside_it():
    state = state_at("home", hits=2)
    assert SessionState.from_json(state.to_json() | {"partition": 3}) == state


def test_the_label_carries_the_features_of_the_page_view_it_labels():
    state, first = advance(None, view(1, 0), "home", offset=1, ingest_time=0, timeout_ms=TIMEOUT)
    state, steps = advance(state, view(2, 40), "cart", offset=2, ingest_time=0,
                           timeout_ms=TIMEOUT)
    learn, serve = steps
    assert learn.learn_features == first[0].features and learn.learn_features["previous"] == "(entrance)"
    assert serve.features["previous"] == "home" and serve.features["landing"] == "home"
    assert round(serve.features["log_dwell"], 3) == round(__import__("math").log1p(40), 3)


def test_a_transaction_credits_every_page_of_the_session_once():
    state = None
    for n, (cluster, seconds) in enumerate([("home", 0), ("cart", 10), ("home", 20)]):
        state, steps = advance(state, view(n, seconds), cluster, offset=n, ingest_time=0,
                               timeout_ms=TIMEOUT)
        assert steps[-1].first_view == (n < 2)
    paid = view(9, 30).derive(revenue=80.0, hit_type="TRANSACTION")
    state, steps = advance(state, paid, "checkout_confirmation", offset=9, ingest_time=0,
                           timeout_ms=TIMEOUT)
    credits = {s.cluster: s.credit for s in steps if s.credit}
    assert credits == {"home": 80.0, "cart": 80.0, "checkout_confirmation": 80.0}
    learn = next(s for s in steps if s.learn_next)
    assert (learn.cluster, learn.learn_next, learn.learn_revenue) == ("home", "checkout_confirmation", 80.0)
