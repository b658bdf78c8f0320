"""The generator's planted high-value path: off by default, on only where asked."""

import pytest

from producers.generator import PlantedPath, generate, sessions
from stream.core.clusters import PageClusterer

N = 3000


def converted(all_sessions) -> float:
    return sum(any(view.revenue for view in session) for session in all_sessions) / N


def moved(session, clusterer, source, target) -> bool:
    clusters = [clusterer.cluster_of(v.page_path, v.page_title) for v in session]
    return any(a == source and b == target for a, b in zip(clusters, clusters[1:]))


def test_without_a_plant_the_sessions_are_the_usual_ones():
    assert list(generate(300, seed=4)) == list(generate(300, seed=4, plant=None))


def test_visitors_who_take_the_planted_path_mostly_buy():
    clusterer, plant = PageClusterer.default(), PlantedPath("home", "office", 0.6)
    planted = list(sessions(N, seed=7, plant=plant))
    usual = list(sessions(N, seed=7))
    took = [s for s in planted if moved(s, clusterer, "home", "office")]
    assert len(took) > 0.05 * N
    assert sum(any(v.revenue for v in s) for s in took) / len(took) > 0.55
    assert converted(planted) > 2 * converted(usual)
    assert list(generate(200, seed=3, plant=plant)) == list(generate(200, seed=3, plant=plant))


@pytest.mark.parametrize("text", ["home>home", "home>cart", "nowhere>office", "home>office:0",
                                  "home>office:x"])
def test_a_planted_path_joins_two_browsing_clusters_and_converts_sometimes(text):
    with pytest.raises(ValueError):
        PlantedPath.parse(text)
