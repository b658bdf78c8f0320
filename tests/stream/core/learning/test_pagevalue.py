"""Page value by the Google Analytics definition: per-cluster stats, per-session pages, tracker."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import numpy as np
import pytest

from stream.core.learning.pagevalue import PageValueStats, PageValueTracker, SessionPages


def tracked(hits, end=()) -> PageValueTracker:
    """A tracker fed ``hits`` as ``(session_id, cluster, revenue)`` and then ``end``ed sessions."""
    tracker = PageValueTracker()
    for session_id, cluster, revenue in hits:
        tracker.learn_one(session_id, cluster, revenue)
    for session_id in end:
        tracker.end_session(session_id)
    return tracker


GA_EXAMPLE = [("s1", "A", 0.0), ("s1", "B", 0.0), ("s1", "C", 0.0), ("s1", "D", 100.0),
              ("s2", "A", 0.0), ("s2", "B", 0.0)]


def test_the_google_analytics_example():
    """Session 1 views A, B, C, then D with a $100 transaction; session 2 views A, B."""
    tracker = tracked(GA_EXAMPLE, end=("s1", "s2"))
    assert tracker.values() == {"A": 50.0, "B": 50.0, "C": 100.0, "D": 100.0}
    assert tracker.stats("A") == PageValueStats(unique_views=2, credited=100.0)
    assert tracker.stats("D") == PageValueStats(unique_views=1, credited=100.0)
    assert tracker.open_sessions == 0


def test_each_transaction_credits_the_pages_viewed_up_to_it():
    tracker = tracked([("s", "A", 0.0), ("s", "B", 10.0), ("s", "C", 0.0), ("s", "B", 0.0),
                       ("s", "D", 20.0)])
    assert {c: tracker.stats(c).credited for c in "ABCD"} == {"A": 30.0, "B": 30.0,
                                                              "C": 20.0, "D": 20.0}
    assert all(tracker.stats(c).unique_views == 1 for c in "ABCD")  # B's repeat counts once


def test_revenue_on_a_first_view_credits_that_page():
    tracker = tracked([("s", "checkout_confirmation", 160.0)])
    assert tracker.stats("checkout_confirmation") == PageValueStats(1, 160.0)
    assert tracker.predict_one("checkout_confirmation") == 160.0


def test_revenue_on_a_repeated_view_credits_without_a_new_view():
    pages, first_view, _ = SessionPages().visit("cart")
    pages, first_view, credited = pages.visit("cart", revenue=30.0)
    assert (first_view, credited) == (False, ("cart",))


def test_a_session_without_transaction_changes_only_unique_views():
    before = tracked(GA_EXAMPLE, end=("s1", "s2"))
    after = tracked([*GA_EXAMPLE, ("s3", "A", 0.0), ("s3", "E", 0.0), ("s3", "A", 0.0)],
                    end=("s1", "s2", "s3"))
    assert after.stats("A") == dataclasses.replace(before.stats("A"), unique_views=3)
    assert after.stats("E") == PageValueStats(unique_views=1, credited=0.0)
    assert {c: after.stats(c) for c in "BCD"} == {c: before.stats(c) for c in "BCD"}
    assert after.predict_one("A") == pytest.approx(100.0 / 3)


def test_ending_a_session_frees_it_and_a_later_hit_starts_afresh():
    tracker = tracked([("s", "A", 0.0), ("t", "A", 0.0)])
    assert tracker.open_sessions == 2
    tracker.end_session("s")
    tracker.end_session("never seen")
    assert tracker.open_sessions == 1
    tracker.learn_one("s", "A", 0.0)
    assert tracker.stats("A").unique_views == 3


def test_unseen_clusters_have_no_value():
    assert PageValueTracker().predict_one("nowhere") == 0.0
    assert PageValueTracker().values() == {}
    assert PageValueStats().value == 0.0


# --- SessionPages ----------------------------------------------------------------------------

def test_session_pages_keep_first_view_order_and_stay_unique():
    pages = SessionPages()
    for cluster in ["home", "cart", "home", "search", "cart"]:
        pages, _, _ = pages.visit(cluster)
    assert pages.clusters == ("home", "cart", "search")


def test_session_pages_are_never_mutated():
    pages = SessionPages(("home",))
    newer, first_view, credited = pages.visit("cart", revenue=5.0)
    assert pages.clusters == ("home",) and newer.clusters == ("home", "cart")
    assert (first_view, credited) == (True, ("home", "cart"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        pages.clusters = ()


@pytest.mark.parametrize("revenue", [-1.0, float("nan"), float("inf")])
def test_bad_revenue_is_refused(revenue):
    with pytest.raises(ValueError, match="revenue"):
        SessionPages().visit("cart", revenue)
    with pytest.raises(ValueError, match="revenue"):
        PageValueStats().credited_with(revenue)


def test_json_round_trips():
    stats = PageValueStats(3, 120.5)
    assert PageValueStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats
    assert PageValueStats.from_json(None) == PageValueStats()
    pages = SessionPages(("home", "cart"))
    assert SessionPages.from_json(json.loads(json.dumps(pages.to_json()))) == pages
    assert SessionPages.from_json(None) == SessionPages()


# --- the River-style contract ----------------------------------------------------------------

def random_hits(n: int, seed: int) -> list:
    """``n`` hits of 50 sessions over 6 clusters; about 3% carry revenue."""
    rng = np.random.default_rng(seed)
    sessions = rng.integers(50, size=n)
    clusters = rng.integers(6, size=n)
    revenue = np.where(rng.random(n) < 0.03, rng.uniform(5.0, 200.0, size=n), 0.0)
    return [(f"s{s}", f"c{c}", float(r)) for s, c, r in zip(sessions, clusters, revenue)]


def snapshot(tracker: PageValueTracker) -> tuple:
    return tracker.values(), {c: tracker.stats(c) for c in tracker.values()}, tracker.open_sessions


HITS = random_hits(2_000, seed=3)


def test_contract_learn_one_returns_none():
    assert PageValueTracker().learn_one("s", "home", 0.0) is None


def test_contract_picklable_before_and_after_learning():
    fresh = pickle.loads(pickle.dumps(PageValueTracker()))
    for hit in HITS:
        fresh.learn_one(*hit)
    trained = tracked(HITS)
    assert snapshot(fresh) == snapshot(trained)

    restored = pickle.loads(pickle.dumps(trained))
    assert snapshot(restored) == snapshot(trained)
    for tracker in (restored, trained):
        tracker.learn_one("s1", "c9", 50.0)
        tracker.end_session("s2")
    assert snapshot(restored) == snapshot(trained)


def test_contract_inputs_not_modified():
    hits = copy.deepcopy(HITS)
    tracked(hits)
    assert hits == HITS


def test_contract_seeded_runs_are_identical():
    assert snapshot(tracked(random_hits(2_000, seed=9))) == snapshot(
        tracked(random_hits(2_000, seed=9)))


def test_page_values_match_a_batch_computation():
    """The incremental values equal GA's definition computed over the finished sessions."""
    tracker = tracked(HITS)
    views: dict = {}
    credited: dict = {}
    for session_id in {s for s, _, _ in HITS}:
        seen: list = []
        for s, cluster, revenue in HITS:
            if s != session_id:
                continue
            if cluster not in seen:
                seen.append(cluster)
                views[cluster] = views.get(cluster, 0) + 1
            for c in seen if revenue > 0 else ():
                credited[c] = credited.get(c, 0.0) + revenue
    expected = {c: credited.get(c, 0.0) / views[c] for c in views}
    assert tracker.values() == pytest.approx(expected)
