"""The page clusters as a network, for the dashboard.

Nodes are the clusters of the rules, with their traffic, page value, V(s) and the latest
recommendation published for a visitor on them; edges are the learned transition
probabilities. Positions come from a force-directed layout (networkx) that starts from the
previous positions, so the picture stays put as the numbers change.
"""

from __future__ import annotations

import time
from typing import Mapping

import networkx as nx

from stream.core.learning.cluster import ClusterValue

MIN_EDGE_PROBABILITY = 0.05  # thinner edges would only clutter the picture


class NetworkLayout:
    """Node positions, recomputed at most every ``refresh_s`` from the current edges."""

    def __init__(self, refresh_s: float = 30.0, seed: int = 7):
        self.refresh_s, self.seed = refresh_s, seed
        self._positions: dict[str, tuple[float, float]] = {}
        self._computed_at = float("-inf")

    def positions(self, nodes: list[str], edges: list[dict]) -> dict[str, tuple[float, float]]:
        stale = time.monotonic() - self._computed_at > self.refresh_s
        if stale or set(nodes) != set(self._positions):
            graph = nx.Graph()
            graph.add_nodes_from(nodes)
            for edge in edges:
                weight = graph.get_edge_data(edge["source"], edge["target"], {}).get("weight", 0)
                graph.add_edge(edge["source"], edge["target"],
                               weight=weight + edge["probability"])
            start = {n: p for n, p in self._positions.items() if n in graph} or None
            layout = nx.spring_layout(graph, weight="weight", seed=self.seed, pos=start,
                                      iterations=50 if start is None else 15)
            self._positions = {n: (round(float(x), 4), round(float(y), 4))
                               for n, (x, y) in layout.items()}
            self._computed_at = time.monotonic()
        return self._positions


def network_view(clusters: tuple[str, ...], transitions: Mapping[str, dict],
                 latest: Mapping[str, dict], values: Mapping[str, ClusterValue],
                 layout: NetworkLayout) -> dict:
    """Nodes and edges of the cluster network (JSON for the dashboard).

    ``transitions``: cluster -> {"transitions", "exit_rate", "next": {cluster: p}};
    ``latest``: cluster -> the last recommendation (a dict) published on that cluster.
    """
    edges = {}
    for source, info in transitions.items():
        for target, p in info["next"].items():
            if p >= MIN_EDGE_PROBABILITY and target in clusters and target != source:
                edges[source, target] = {"source": source, "target": target, "probability": p,
                                         "recommended": False}
    for source, rec in latest.items():  # each node's recommended next page, however unlikely
        if rec["items"] and source in clusters and rec["items"][0]["cluster"] in clusters:
            item = rec["items"][0]
            edge = edges.setdefault((source, item["cluster"]), {
                "source": source, "target": item["cluster"],
                "probability": transitions.get(source, {}).get("next", {}).get(
                    item["cluster"], item["probability"])})
            edge["recommended"] = True
    edges = list(edges.values())
    positions = layout.positions(list(clusters), edges)
    nodes = []
    for cluster in clusters:
        value = values.get(cluster, ClusterValue())
        rec = latest.get(cluster)
        nodes.append({
            "cluster": cluster, "x": positions[cluster][0], "y": positions[cluster][1],
            "visitors": value.visitors, "page_value": round(value.page_value, 4),
            "value": round(value.value, 4), "exit_rate": round(value.exit_rate, 4),
            "transitions": transitions.get(cluster, {}).get("transitions", 0),
            "recommended": _top_item(rec), "items": rec["items"] if rec else [],
            "fallback": rec["fallback"] if rec else None,
            "recommended_at": rec["publish_time"] if rec else None})
    return {"nodes": nodes, "edges": edges}


def _top_item(rec: dict | None) -> str | None:
    return rec["items"][0]["cluster"] if rec and rec["items"] else None
