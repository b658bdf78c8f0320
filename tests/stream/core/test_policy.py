"""The policy: candidates from the model, then Markov, then popularity while cold; ranked
by Q with the probability breaking ties, blended as configured."""

import dataclasses

from stream.core.learning.cluster import ClusterRow, ClusterValue, LearningConfig
from stream.core.learning.markov import NextPageCounts
from stream.core.learning.nextpage import NextPageModel
from stream.core.learning.qlearning import QRow
from stream.core.models import EXIT
from stream.core.policy import candidates, rank

CONFIG = LearningConfig(cold_start_min=3, top_k=2, candidates=3)
VALUES = {"home": ClusterValue(visitors=50), "cart": ClusterValue(visitors=20, exit_rate=0.5),
          "bags": ClusterValue(visitors=30), "shoes": ClusterValue(visitors=5)}


def _row(q: dict[str, float], counts: dict[str, int] | None = None) -> ClusterRow:
    return ClusterRow(q=QRow({a: (v, 1) for a, v in q.items()}),
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


def test_candidates_are_ranked_by_q_and_ties_by_probability():
    proba = {"bags": 0.5, "cart": 0.1, "shoes": 0.4}
    items = rank(proba, _row({"cart": 9.0, "shoes": 1.0, "bags": 1.0}), VALUES, CONFIG)
    assert [item["cluster"] for item in items] == ["cart", "bags"]
    assert items[0]["q"] == 9.0 and items[0]["probability"] == 0.1


def test_the_blend_weighs_probability_and_bounce():
    proba = {"bags": 0.5, "cart": 0.45}
    row = _row({"cart": 2.0, "bags": 1.0})
    probable = dataclasses.replace(CONFIG, blend_probability=1.0)
    assert rank(proba, row, VALUES, probable)[0]["cluster"] == "bags"
    wary = dataclasses.replace(CONFIG, blend_bounce=1.0)  # cart's exit rate 0.5 costs 0.5
    assert rank(proba, row, VALUES, wary)[0]["cluster"] == "bags"
