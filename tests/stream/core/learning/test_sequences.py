"""The sequence experts and their mixture: exact top lists, the rules' weights, and a mixture
that follows the expert that predicts a cluster best."""

import random

from stream.core.learning.sequences import (TOP_K, PairTransitions, Row, SequentialRules,
                                            SessionMixture, Transitions)
from stream.core.models import EXIT


def test_a_row_keeps_its_exact_top_items_as_scores_grow():
    rng = random.Random(5)
    row = Row()
    for _ in range(3000):
        row.add(f"p{int(rng.paretovariate(1.2)) % 80}", rng.choice([1.0, 0.5, 1 / 3]))
    expected = sorted(row.scores, key=lambda c: (-row.scores[c], c))[:TOP_K]
    assert row.top == expected
    assert abs(row.total - sum(row.scores.values())) < 1e-6


def test_the_rules_weigh_later_pages_by_their_distance():
    rules = SequentialRules(steps=3, back=1)
    rules.learn_one({"history": ["b", "a"]}, "c")  # c after b (distance 1), after a (2)
    assert rules.rows["b"].scores == {"c": 1.0} and rules.rows["a"].scores == {"c": 0.5}
    assert rules.predict_proba_one({"history": ["a"]}) == {"c": 1.0}


def test_the_first_and_second_order_experts_read_their_context():
    first, second = Transitions(), PairTransitions()
    for x, y in [({"history": ["b", "a"]}, "c"), ({"history": ["b", "x"]}, "d")]:
        first.learn_one(x, y)
        second.learn_one(x, y)
    assert first.predict_proba_one({"history": ["b", "a"]}) == {"c": 0.5, "d": 0.5}
    assert second.predict_proba_one({"history": ["b", "a"]}) == {"c": 1.0}
    assert second.predict_proba_one({"history": ["b"]}) == {}


def test_the_mixture_trusts_the_expert_that_predicts_the_cluster():
    # After "home" the next page depends on the page before it: only the second-order
    # expert knows, and the mixture learns to follow it there.
    model = SessionMixture()
    for _ in range(200):
        model.learn_one({"history": ["home", "bags"]}, "cart")
        model.learn_one({"history": ["home", "shoes"]}, "search")
    weights = model.weights("home")
    assert weights[SessionMixture.EXPERTS.index("pairs")] == max(weights)
    proba = model.predict_proba_one({"history": ["home", "bags"]})
    assert max(proba, key=proba.get) == "cart"


def test_exits_and_empty_histories_teach_nothing():
    model = SessionMixture()
    model.learn_one({"history": ["home"]}, EXIT)
    model.learn_one({}, "cart")
    assert model.predict_proba_one({"history": ["home"]}) == {} and model.scores == {}
