"""The report's estimators on a small Markov chain whose value under the policy is known
exactly: each estimate's interval covers the truth, rho = 0 is the logged behaviour, and
the bootstrap intervals cover the truth about as often as they claim."""

import numpy as np
import pytest

from stream.report.decisions import Decisions
from stream.report.impact import ALL_ESTIMATORS, ImpactSettings, estimate_impact
from stream.report.model import Reaction, TransitionModel
from stream.report.offpolicy import Weights, estimate
from stream.report.outcomes import REWARDS
from tests.stream.report import known_mdp


def decisions(n: int, seed: int) -> Decisions:
    return Decisions.from_page_views(known_mdp.sessions(n, seed), known_mdp.CLUSTERS,
                                     known_mdp.NOT_FOLLOWED)


@pytest.fixture(scope="module")
def impact() -> dict:
    return estimate_impact(decisions(4000, seed=1),
                           ImpactSettings(rhos=(0.0, 0.3, 0.6), resamples=150, seed=2))


@pytest.mark.parametrize("estimator", ALL_ESTIMATORS)
def test_every_estimator_covers_the_true_value_of_the_policy(impact, estimator):
    for row in impact["estimates"][estimator]["value"]:
        truth = known_mdp.true_outcomes(row["rho"])["value"]
        assert row["low"] <= truth <= row["high"], (row, truth)


@pytest.mark.parametrize("metric", ["value", "pages", "time_on_page"])
@pytest.mark.parametrize("estimator", ALL_ESTIMATORS)
def test_every_estimator_covers_the_true_uplift(impact, estimator, metric):
    logged = known_mdp.true_outcomes(0.0)[metric]
    for row in impact["estimates"][estimator][metric][1:]:
        truth = known_mdp.true_outcomes(row["rho"])[metric] - logged
        assert row["uplift_low"] <= truth <= row["uplift_high"], (row, truth)


def test_the_policy_is_worth_more_than_the_logged_behaviour_and_the_estimators_see_it(impact):
    gain = known_mdp.true_outcomes(0.6)["value"] - known_mdp.true_outcomes(0.0)["value"]
    assert gain > 1.5
    for estimator in ALL_ESTIMATORS:
        row = impact["estimates"][estimator]["value"][-1]
        assert row["uplift_low"] > 0, estimator
        assert row["uplift_low"] <= gain <= row["uplift_high"], (estimator, row, gain)


def test_rho_zero_is_the_logged_behaviour(impact):
    logged = impact["logged"]
    for metric, figure in logged.items():
        for estimator in ("ips", "snips", "dr"):
            row = impact["estimates"][estimator][metric][0]
            assert row["estimate"] == pytest.approx(figure["estimate"]), (estimator, metric)
            assert row["uplift"] == row["uplift_low"] == row["uplift_high"] == 0
        row = impact["estimates"]["model"][metric][0]  # up to its prior for rare states
        assert row["estimate"] == pytest.approx(figure["estimate"], rel=0.02)


def test_weights_are_one_where_the_policy_is_the_logged_behaviour():
    d = decisions(300, seed=3)
    ones = np.ones(d.n_sessions)
    model = TransitionModel(d, ones)
    weights = Weights.of(d, model, Reaction(0.0), clip=10.0, weights=ones)
    assert np.allclose(weights.rho, 1.0) and weights.ess == pytest.approx(1.0)
    weights = Weights.of(d, model, Reaction(0.5), clip=10.0, weights=ones)
    assert weights.rho.max() == pytest.approx(10.0) and 0 < weights.ess < 1
    assert 0 < weights.clipped < 0.05


def test_no_recommendation_to_follow_leaves_everything_as_logged():
    views = known_mdp.sessions(300, seed=4)
    views.recommended = [("cart",)] * len(views)  # an order page: nothing can be followed
    d = Decisions.from_page_views(views, known_mdp.CLUSTERS, known_mdp.NOT_FOLLOWED)
    ones = np.ones(d.n_sessions)
    model = TransitionModel(d, ones)
    logged, _ = model.solve(model.policy(Reaction(0.0)))
    policy, q = model.solve(model.policy(Reaction(0.5)))
    assert np.allclose(policy, logged)
    off, _ = estimate(d, model, Reaction(0.5), q, ones, clip=10.0)
    assert np.allclose(off["ips"], ones[d.session] @ d.rewards / d.n_sessions)


def test_retaining_leaving_visitors_lowers_the_bounce_rate_by_the_share_retained():
    d = decisions(2000, seed=5)  # every cluster has a recommendation a visitor can follow
    ones = np.ones(d.n_sessions)
    model = TransitionModel(d, ones)
    bounce = REWARDS.index("bounce")
    logged, _ = model.solve(model.policy(Reaction(0.0)))
    retained, q = model.solve(model.policy(Reaction(0.0, retain=0.3)))
    assert retained[bounce] == pytest.approx(0.7 * logged[bounce])
    off, _ = estimate(d, model, Reaction(0.0, retain=0.3), q, ones, clip=50.0)
    assert off["ips"][bounce] == pytest.approx(0.7 * d.rewards[:, bounce].sum() / d.n_sessions)
    assert retained[REWARDS.index("move")] > logged[REWARDS.index("move")]


def test_bootstrap_intervals_cover_the_truth_about_as_often_as_they_claim():
    truth = known_mdp.true_outcomes(0.3)["value"]
    covered = 0
    for seed in range(30):
        impact = estimate_impact(decisions(500, seed=100 + seed),
                                 ImpactSettings(rhos=(0.0, 0.3), resamples=60, seed=seed))
        row = impact["estimates"]["model"]["value"][1]
        covered += row["low"] <= truth <= row["high"]
    assert covered >= 24  # 95% intervals; 24 of 30 or fewer happens with p < 1%


@pytest.mark.parametrize("rho, retain", [(-0.1, 0.0), (1.0, 0.0), (0.2, 1.5)])
def test_a_reaction_is_a_probability_below_one(rho, retain):
    with pytest.raises(ValueError, match="must be in"):
        Reaction(rho, retain)
