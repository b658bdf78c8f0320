from stream.models import PageView
from stream.policy import EXIT
from stream.sessions import SessionRecord, SessionState, advance, expired, on_page_view, sweep

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


def test_a_page_view_processed_again_sends_the_very_same_steps_even_after_later_ones():
    at = dict(partition=3, ingest_time=0, timeout_ms=TIMEOUT, committed=None)
    record, first = on_page_view(None, view(1, 0), "home", offset=7, **at)
    record, second = on_page_view(record, view(2, 20), "cart", offset=9, **at)
    record, _ = on_page_view(record, view(3, 40), "home", offset=12, **at)
    again, steps = on_page_view(record, view(2, 20), "cart", offset=9, **at)
    assert again == record and steps == second
    assert [s.source for s in second] == [[3, 9, 0], [3, 9, 1]]


def test_the_outbox_keeps_only_what_the_group_may_deliver_again():
    at = dict(partition=0, ingest_time=0, timeout_ms=TIMEOUT)
    record, _ = on_page_view(None, view(1, 0), "home", offset=7, committed=None, **at)
    record, _ = on_page_view(record, view(2, 20), "cart", offset=9, committed=8, **at)
    assert [offset for offset, _ in record.outbox] == [9]
    assert SessionRecord.from_json(record.to_json()) == record


def records_at(offsets: dict[str, int], seconds: int = 0) -> dict[str, SessionRecord]:
    at = dict(partition=0, ingest_time=0, timeout_ms=TIMEOUT, committed=None)
    out = {}
    for session, offset in offsets.items():
        page_view = view(1, seconds).derive(session_id=session, event_id=f"{session}-1")
        out[session], _ = on_page_view(None, page_view, "home", offset=offset, **at)
    return out


def test_a_sweep_run_again_for_the_same_offset_sends_the_same_exits():
    records = records_at({"b": 1, "a": 2, "later": 60})
    at = dict(partition=0, offset=50, event_time=T0 + TIMEOUT + 1, ingest_time=0,
              timeout_ms=TIMEOUT, committed=None, first_index=2)
    changes, exits = sweep(records, **at)
    # "later" was processed after offset 50 (the table is ahead after a crash): not closed here
    assert [(s.session_id, s.source, s.learn_next) for s in exits] == [
        ("a", [0, 50, 2], EXIT), ("b", [0, 50, 3], EXIT)]
    assert set(changes) == {"a", "b"} and changes["a"].state is None
    # again, with only some of the changes stored before the crash: the same exits
    again, exits_again = sweep(records | {"b": changes["b"]}, **at)
    assert exits_again == exits and set(again) == {"a"}


def test_a_closed_session_is_forgotten_once_its_offsets_are_committed():
    closed = SessionRecord(partition=0, state=None, outbox=((50, []),))
    at = dict(partition=0, offset=200, event_time=T0, ingest_time=0, timeout_ms=TIMEOUT,
              first_index=0)
    assert sweep({"a": closed}, committed=50, **at) == ({}, [])
    assert sweep({"a": closed}, committed=51, **at) == ({"a": None}, [])
