"""The experiment's estimators on cases whose answer is known."""

import math
import random

import pytest

from stream.core.estimates import (Tally, WindowedTally, figures, merged, sessions_of,
                                   significant)
from stream.core.experiments import explore

CANDIDATES = ["bags", "cart", "home", "shoes", "shop"]
NEXT = {"bags": 0.30, "cart": 0.20, "home": 0.15, "shoes": 0.10, "shop": 0.05, "(exit)": 0.20}


def _outcome(variant="a", epsilon=0.0, shown=("bags",), propensities=None, went="bags",
             after=0.0, counterfactuals=None, expected=None, opens=True, revenue=0.0,
             session="s", closed=0):
    propensities = propensities or [1.0] * len(shown)
    return {"variant": variant, "epsilon": epsilon, "next": went,
            "items": [{"cluster": c, "propensity": p} for c, p in zip(shown, propensities)],
            "followed": went in shown, "revenue_after": after, "opens_session": opens,
            "session_revenue": revenue, "counterfactuals": counterfactuals or {},
            "expected": expected or {}, "session_id": session, "closed_time": closed}


def test_one_logged_page_view_weighs_as_computed_by_hand():
    tally = Tally()
    tally.add_session([_outcome(
        "explore", 0.5, shown=("cart", "bags"), propensities=[0.8, 0.25], went="bags",
        after=10.0, counterfactuals={"t": [{"cluster": "bags", "logging_propensity": 0.25},
                                           {"cluster": "home", "logging_propensity": 0.0}]},
        expected={"bags": [0.4, 20.0], "home": [0.1, 5.0]})])
    off = figures(tally.sums)["offpolicy"]["t"]
    assert off["support"] == 0.5  # home is not among the logging variant's candidates
    assert off["hit"]["ips"]["mean"] == 4.0  # 1 / 0.25
    assert off["hit"]["snips"]["mean"] == 2.0  # 4 / ((1 / 0.25) / 2)
    assert off["hit"]["dr"]["mean"] == pytest.approx(0.4 + (1 - 0.4) / 0.25 + 0.1)
    assert off["value"]["ips"]["mean"] == 40.0
    assert off["value"]["dr"]["mean"] == pytest.approx(8.0 + (10 - 8.0) / 0.25 + 0.5)


def test_a_greedy_variant_feeds_no_offpolicy_estimate():
    tally = Tally()
    tally.add_session([_outcome(counterfactuals={"t": [{"cluster": "bags",
                                                        "logging_propensity": 1.0}]})])
    assert figures(tally.sums)["offpolicy"] == {}


def _replay(n, epsilon, target, seed=3):
    """An exploring logger over fixed candidates, one page view per session; the visitors
    go where they would have gone anyway (an open-loop replay), so a target's hit rate is
    P(next in target)."""
    rng, tally = random.Random(seed), Tally()
    ranked = ["bags", "cart", "home", "shoes", "shop"]
    logging = {c: (1 - epsilon) * (c in ranked[:3]) + epsilon * 3 / 5 for c in CANDIDATES}
    for i in range(n):
        shown, _, p, _ = explore(ranked, CANDIDATES, 3, epsilon, f"s{i}", f"s{i}-1", "explore")
        went = rng.choices(list(NEXT), weights=list(NEXT.values()))[0]
        tally.add_session([_outcome(
            "explore", epsilon, tuple(shown), p, went, after=1.0,
            counterfactuals={"t": [{"cluster": c, "logging_propensity": logging[c]}
                                   for c in target]},
            expected={c: [NEXT[c], 1.0] for c in CANDIDATES})])
    return figures(tally.sums)["offpolicy"]["t"]


@pytest.mark.parametrize("target", [("home", "shoes", "shop"), ("bags", "shop", "cart")])
def test_ips_snips_and_dr_find_a_targets_hit_rate_from_the_exploring_logs(target):
    truth = sum(NEXT[c] for c in target)
    off = _replay(6000, 0.3, target)
    for estimator in ("ips", "snips", "dr"):  # within 3 standard errors (a fixed seed)
        found = off["hit"][estimator]
        assert abs(found["mean"] - truth) <= 3 * found["se"], (estimator, found, truth)
        assert found["se"] < 0.02
    assert off["support"] == 1.0
    assert off["hit"]["ess"] < 6000  # unequal weights


def test_equal_weights_make_the_effective_sample_size_the_count():
    tally = Tally()
    for i in range(500):  # the target's one item always shown, with probability 1/2
        tally.add_session([_outcome("explore", 0.5, shown=("bags",), propensities=[0.5],
                                    went="bags" if i % 4 else "home",
                                    counterfactuals={"t": [{"cluster": "bags",
                                                            "logging_propensity": 0.5}]})])
    off = figures(tally.sums)["offpolicy"]["t"]
    assert off["hit"]["ess"] == pytest.approx(500)
    assert off["hit"]["snips"]["mean"] == pytest.approx(0.75)
    assert off["hit"]["ips"]["mean"] == pytest.approx(1.5)  # IPS: not normalised


def test_arms_that_differ_are_told_apart_and_arms_that_do_not_are_not():
    rng, tally = random.Random(5), Tally()
    for i in range(4000):
        for variant, rate in (("control", 0.2), ("better", 0.3), ("same", 0.2)):
            went = "bags" if rng.random() < rate else "home"
            tally.add_session([_outcome(variant, went=went,
                                        revenue=float(rng.random() < 0.05))])
    result = figures(tally.sums, control="control")["variants"]
    assert significant(result["better"]["vs_control"]["hit_rate"])
    assert not significant(result["same"]["vs_control"]["hit_rate"])
    assert not significant(result["better"]["vs_control"]["conversion"])
    assert result["control"]["hit_rate"]["low"] < 0.2 < result["control"]["hit_rate"]["high"]


def test_intervals_widen_when_a_sessions_page_views_go_together():
    """Sessions whose page views all hit or all miss carry less information than as many
    independent page views: the clustered standard error says so."""
    rng, together, apart = random.Random(9), Tally(), Tally()
    for i in range(400):
        went = "bags" if rng.random() < 0.3 else "home"
        together.add_session([_outcome(went=went, opens=j == 0) for j in range(10)])
        for j in range(10):
            apart.add_session([_outcome(went="bags" if rng.random() < 0.3 else "home")])
    a = figures(together.sums)["variants"]["a"]["hit_rate"]
    b = figures(apart.sums)["variants"]["a"]["hit_rate"]
    assert a["n"] == b["n"] == 4000 and a["sessions"] == 400
    assert a["se"] == pytest.approx(b["se"] * math.sqrt(10), rel=0.15)


def test_an_arm_without_conversions_is_not_certain_of_a_rate_of_zero():
    tally = Tally()
    for i in range(200):
        tally.add_session([_outcome("control", revenue=float(i % 50 == 0))])
        tally.add_session([_outcome("none")])
    none = figures(tally.sums, control="control")["variants"]["none"]
    assert none["conversion"]["mean"] == 0.0 and none["conversion"]["se"] > 0
    assert not significant(none["vs_control"]["conversion"])  # 0 of 200 against 4 of 200


def test_tallies_of_workers_and_buckets_add_up():
    one, two, both = Tally(), Tally(), Tally()
    for i in range(10):
        session = [_outcome(went="bags" if i % 3 else "home", revenue=float(i))]
        (one if i % 2 else two).add_session(session)
        both.add_session(session)
    assert figures(merged([one.sums, two.sums])) == figures(both.sums)


def test_outcomes_read_back_are_grouped_by_the_session_they_ended_with():
    outcomes = [_outcome(session="s", closed=5), _outcome(session="t", closed=5),
                _outcome(session="s", closed=5, opens=False),
                _outcome(session="s", closed=9)]  # the same id again: a later session
    assert [len(group) for group in sessions_of(outcomes)] == [2, 1, 1]


def test_the_window_forgets_what_is_older_than_it():
    now = [0.0]
    tally = WindowedTally(60.0, clock=lambda: now[0])
    tally.add_session([_outcome(went="home")])
    now[0] = 61.0
    tally.add_session([_outcome(went="bags")])
    window = figures(tally.window())["variants"]["a"]["hit_rate"]
    total = figures(tally.total.sums)["variants"]["a"]["hit_rate"]
    assert (window["n"], window["mean"]) == (1, 1.0)
    assert (total["n"], total["mean"]) == (2, 0.5)
