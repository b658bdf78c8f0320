"""The worker's web server (Faust's, bound to PAGEPILOT_WEB_HOST:PAGEPILOT_WEB_PORT).

- ``/dashboard/``: the live dashboard (its assets, Plotly included, are served from here).
- ``/api/metrics``: the figures of the whole cluster as JSON (``?scope=worker``: this one).
- ``/metrics``: the same in Prometheus text format, of this worker unless ``?scope=cluster``.
- ``/api/network``: the page-cluster network with the latest recommendations.
- ``/api/scores/``: prequential scores over all transitions this worker's clusters learned.
- ``/api/state``: what this worker's clusters have learned (to compare runs).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from stream.agents import clusters, learned_state, learner, metrics, value_cache
from stream.app import app
from stream.clusters import PageClusterer
from stream.config import settings
from stream.learning.cluster import MODEL_NAMES
from stream.learning.prequential import Score
from stream.metrics import prometheus_text, value_summary
from stream.monitor import cluster_figures
from stream.network import NetworkLayout, network_view

_WEB = Path(__file__).with_name("web")
_ASSETS = {  # name -> (file, content type): a fixed list, so no path reaches the disk
    "dashboard.js": (_WEB / "dashboard.js", "application/javascript"),
    "dashboard.css": (_WEB / "dashboard.css", "text/css"),
    "plotly.min.js": (importlib.resources.files("plotly") / "package_data" / "plotly.min.js",
                      "application/javascript"),
}
_cluster_names = PageClusterer.from_file(settings().cluster_rules).clusters
_layout = NetworkLayout()


@app.page("/metrics")
async def prometheus(web, request):
    figures = cluster_figures(request.query.get("scope", "worker"))
    return web.text(prometheus_text(figures, value_summary(value_cache.get())),
                    content_type="text/plain; version=0.0.4")


@app.page("/api/metrics")
async def metrics_json(web, request):
    figures = cluster_figures(request.query.get("scope", "cluster"))
    return web.json(figures | {"values": value_summary(value_cache.get())})


@app.page("/api/network")
async def network(web, request):
    figures = cluster_figures()
    return web.json(network_view(_cluster_names, figures["network"], figures["latest"],
                                 value_cache.get(), _layout))


@app.page("/dashboard/")
async def dashboard(web, request):
    return web.html((_WEB / "dashboard.html").read_text())


@app.page("/dashboard/{name}")
async def dashboard_asset(web, request, name: str):
    if name not in _ASSETS:
        return web.text(f"no such asset: {name}\n", status=404)
    path, content_type = _ASSETS[name]
    return web.bytes(path.read_bytes(), content_type=content_type,
                     headers={"Cache-Control": "max-age=3600"})


@app.page("/api/scores/")
async def scores(web, request):
    """Prequential scores of each model: totals over this worker's clusters, and the
    window of the most recent events this worker learned."""
    totals = {name: Score() for name in MODEL_NAMES}
    for data in clusters.values():
        row = learner.new_row(data)
        for name, score in row.scores.items():
            totals[name] += score
    return web.json({name: {"total": totals[name].as_dict(),
                            "window": metrics.scores[name].recent.as_dict()}
                     for name in MODEL_NAMES})


@app.page("/api/state")
async def state(web, request):
    return web.json(await learned_state())
