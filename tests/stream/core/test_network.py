"""The page-cluster network of the dashboard."""

from stream.core.learning.cluster import ClusterValue
from stream.core.network import NetworkLayout, network_view

CLUSTERS = ("home", "bags", "cart", "checkout_payment")


def latest(cluster: str, top: str) -> dict:
    return {"cluster": cluster, "publish_time": 1, "fallback": None, "cold": False,
            "items": [{"cluster": top, "score": 1.0, "probability": 0.01, "q": 9.0,
                       "page_value": 2.0}]}


def test_edges_are_likely_transitions_and_each_nodes_recommendation():
    transitions = {"home": {"transitions": 100, "exit_rate": 0.2,
                            "next": {"bags": 0.5, "cart": 0.02, "home": 0.1}}}
    view = network_view(CLUSTERS, transitions, {"home": latest("home", "checkout_payment")},
                        {"home": ClusterValue(value=5, page_value=1.5, visitors=80)},
                        NetworkLayout())
    edges = {(e["source"], e["target"]): e for e in view["edges"]}
    assert set(edges) == {("home", "bags"), ("home", "checkout_payment")}  # no self loop, no 2 %
    assert edges["home", "checkout_payment"]["recommended"]
    assert not edges["home", "bags"]["recommended"]
    home = next(n for n in view["nodes"] if n["cluster"] == "home")
    assert home["visitors"] == 80 and home["recommended"] == "checkout_payment"
    assert home["items"][0]["q"] == 9.0
    assert [n["cluster"] for n in view["nodes"]] == list(CLUSTERS)


def test_layout_stays_put_between_refreshes():
    layout = NetworkLayout(refresh_s=0)
    edges = [{"source": "home", "target": "bags", "probability": 0.5}]
    first = layout.positions(list(CLUSTERS), edges)
    again = layout.positions(list(CLUSTERS), edges)
    moved = max(abs(first[c][0] - again[c][0]) + abs(first[c][1] - again[c][1]) for c in CLUSTERS)
    assert moved < 0.5
    assert len({first[c] for c in CLUSTERS}) == len(CLUSTERS)
