"""The policy: candidates from the model, then Markov, then popularity while cold; ranked
by expected gain, the probability times the value against the visitor's own moves."""

import pytest

from stream.core.learning.cluster import ClusterRow, ClusterValue, LearningConfig
from stream.core.learning.markov import NextPageCounts
from stream.core.learning.nextpage import NextPageModel
from stream.core.learning.qlearning import QRow
from stream.core.models import EXIT
from stream.core.experiments import Variant
from stream.core.policy import candidates, expected_gains, rank, recommend

CONFIG = LearningConfig(cold_start_min=3, top_k=2, candidates=3)
VALUES = {"home": ClusterValue(visitors=50), "cart": ClusterValue(visitors=20, exit_rate=0.5),
          "bags": ClusterValue(visitors=30), "shoes": ClusterValue(visitors=5)}


def _row(q: dict[str, float], counts: dict[str, int] | None = None, visits: int = 1000
         ) -> ClusterRow:
    return ClusterRow(q=QRow({a: (v, visits) for a, v in q.items()}),
                      markov=NextPageCounts(counts or {}))


def _model(pairs) -> NextPageModel:
    model = NextPageModel()
    for previous, nxt in pairs:
        model.learn_one({"history": ["home", previous]}, nxt)
    return model


def test_a_warm_model_gives_the_candidates_without_the_current_cluster_or_exit():
    model = _model([("bags", "cart")] * 3 + [("bags", "home")] * 5 + [("bags", EXIT)])
    proba, fallback, version = candidates(_row({}), model, {"history": ["home", "bags"]},
                                          "home", VALUES, CONFIG)
    assert fallback is None and version == 9 and list(proba) == ["cart"]  # exits count as samples


def test_a_cold_cluster_falls_back_on_markov_then_on_popularity():
    cold = NextPageModel()
    markov_row = _row({}, {"bags": 2, "cart": 1, EXIT: 1})
    proba, fallback, _ = candidates(markov_row, cold, {"history": ["home"]}, "home", VALUES,
                                    CONFIG)
    assert fallback == "markov" and list(proba) == ["bags", "cart"]
    proba, fallback, _ = candidates(_row({}), cold, {"history": ["home"]}, "home", VALUES,
                                    CONFIG)
    assert fallback == "popular" and list(proba) == ["bags", "cart", "shoes"]


def test_a_much_more_valuable_page_comes_first_even_when_less_likely():
    proba = {"bags": 0.5, "cart": 0.1, "shoes": 0.4}
    items = rank(proba, _row({"cart": 9.0, "shoes": 1.0, "bags": 1.0}), VALUES, CONFIG)
    assert [item["cluster"] for item in items] == ["cart", "bags"]
    assert items[0]["q"] == 9.0 and items[0]["probability"] == 0.1
    # V = 0.5 * 1 + 0.1 * 9 + 0.4 * 1 = 1.8; cart gains 0.1 * 7.2 (times its trust)
    assert items[0]["score"] == pytest.approx(0.1 * 7.2 * 1000 / 1003, abs=1e-6)


def test_a_likely_page_comes_before_an_unlikely_one_of_similar_value():
    proba = {"bags": 0.6, "shoes": 0.02, "cart": 0.38}
    items = rank(proba, _row({"bags": 10.4, "shoes": 10.5, "cart": 8.0}), VALUES, CONFIG)
    assert [item["cluster"] for item in items] == ["bags", "shoes"]
    # below the visitor's own moves too: none gains, the likelier first
    proba = {"bags": 0.5, "shoes": 0.02, "cart": 0.48}
    items = rank(proba, _row({"bags": 1.0, "shoes": 1.0, "cart": 9.0}), VALUES, CONFIG)
    assert [item["cluster"] for item in items] == ["cart", "bags"]
    assert items[1]["score"] == 0.0


def test_without_any_value_the_probability_ranks():
    proba = {"shoes": 0.2, "bags": 0.5, "cart": 0.3}
    items = rank(proba, _row({}), VALUES, CONFIG)
    assert [item["cluster"] for item in items] == ["bags", "cart"]
    assert {item["score"] for item in items} == {0.0}


def test_a_q_from_few_visits_is_trusted_less():
    proba = {"bags": 0.5, "cart": 0.5}
    row = ClusterRow(q=QRow({"bags": (1.0, 1000), "cart": (2.0, 1)}))
    trusted = ClusterRow(q=QRow({"bags": (1.0, 1000), "cart": (2.0, 1000)}))
    few, many = (rank(proba, r, VALUES, CONFIG)[0] for r in (row, trusted))
    assert few["cluster"] == many["cluster"] == "cart"
    assert few["score"] == pytest.approx(many["score"] * (1 / 4) / (1000 / 1003), rel=1e-4)


def test_a_move_never_made_gains_nothing():
    proba = {"bags": 0.4, "cart": 0.35, "shoes": 0.25}  # shoes never visited from here
    row = ClusterRow(q=QRow({"bags": (2.0, 1000), "cart": (1.0, 1000)}))
    gains = expected_gains(proba, row, trust_visits=0)  # V = (0.4 * 2 + 0.35 * 1) / 0.75
    assert gains["shoes"] == 0.0 and gains["cart"] == 0.0 and gains["bags"] > 0


def test_the_greedy_default_publishes_its_ranking_with_propensity_one():
    model = _model([("bags", "cart")] * 3 + [("bags", "shoes")] * 5)
    row = _row({"cart": 9.0, "shoes": 1.0})
    served = recommend(row, model, {"history": ["home", "bags"]}, "home", VALUES, CONFIG)
    assert [i["cluster"] for i in served.items] == ["cart", "shoes"] and not served.explored
    assert {(i["propensity"], i["slot_propensity"]) for i in served.items} == {(1.0, 1.0)}


def test_each_variant_policy_ranks_from_its_own_source():
    model = _model([("bags", "cart")] * 3 + [("bags", "shoes")] * 5)
    row = _row({"cart": 9.0, "shoes": 1.0}, counts={"bags": 6, "home": 2, EXIT: 1})
    x = {"history": ["home", "bags"]}
    relevance = recommend(row, model, x, "home", VALUES, CONFIG, Variant("r", "relevance"))
    assert [i["cluster"] for i in relevance.items] == ["shoes", "cart"]
    markov = recommend(row, model, x, "home", VALUES, CONFIG, Variant("m", "markov"))
    assert markov.fallback == "markov" and [i["cluster"] for i in markov.items] == ["bags"]
    popular = recommend(row, model, x, "home", VALUES, CONFIG, Variant("p", "popular"))
    assert popular.fallback == "popular"
    assert [i["cluster"] for i in popular.items] == ["bags", "cart"]  # home is current


def test_an_exploring_variant_shows_candidates_with_their_propensities_and_repeats_itself():
    model = _model([("bags", "cart")] * 3 + [("bags", "shoes")] * 5 + [("bags", "bags")] * 2)
    row, x = _row({"cart": 9.0, "shoes": 1.0, "bags": 2.0}), {"history": ["home", "bags"]}
    explorer = Variant("explore", epsilon=1.0)
    first = recommend(row, model, x, "home", VALUES, CONFIG, explorer, ids=("s", "s-1"))
    assert first == recommend(row, model, x, "home", VALUES, CONFIG, explorer, ids=("s", "s-1"))
    assert first.explored and len(first.items) == 2
    assert {i["propensity"] for i in first.items} == {round(2 / 3, 6)}  # 2 of 3 shown
    assert {i["slot_propensity"] for i in first.items} == {round(1 / 3, 6)}
    lists = {tuple(i["cluster"] for i in recommend(row, model, x, "home", VALUES, CONFIG,
                                                     explorer, ids=("s", f"s-{n}")).items)
             for n in range(40)}
    assert len(lists) == 6  # every ordered pair of the three candidates


def test_logging_propensities_are_those_the_variant_shows_its_items_with():
    model = _model([("bags", "cart")] * 3 + [("bags", "shoes")] * 5 + [("bags", "bags")] * 2)
    row, x = _row({"cart": 9.0, "shoes": 1.0, "bags": 2.0}), {"history": ["home", "bags"]}
    served = recommend(row, model, x, "home", VALUES, CONFIG, Variant("e", epsilon=0.3),
                       ids=("s", "s-1"))
    top = [i["cluster"] for i in recommend(row, model, x, "home", VALUES, CONFIG).items]
    assert {c: served.propensity_of(c) for c in ("bags", "cart", "shoes", "shop")} == {
        c: (round(0.7 + 0.3 * 2 / 3, 6) if c in top else round(0.3 * 2 / 3, 6))
        for c in ("bags", "cart", "shoes")} | {"shop": 0.0}  # not a candidate
    assert sum(served.propensity_of(c) for c in served.candidates) == pytest.approx(2)
    for item in served.items:
        assert served.propensity_of(item["cluster"]) == item["propensity"]


def test_variants_of_one_page_view_share_the_models_candidates():
    model = _model([("bags", "cart")] * 3 + [("bags", "shoes")] * 5)
    row, x, sources = _row({"cart": 9.0, "shoes": 1.0}), {"history": ["home", "bags"]}, {}
    gain = recommend(row, model, x, "home", VALUES, CONFIG, sources=sources)
    relevance = recommend(row, model, x, "home", VALUES, CONFIG, Variant("r", "relevance"),
                          sources=sources)
    assert list(sources) == ["model"] and gain.candidates == relevance.candidates
