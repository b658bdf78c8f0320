"""The worker's web server (Faust's, bound to PAGEPILOT_WEB_HOST:PAGEPILOT_WEB_PORT).

- ``/dashboard/``: the live dashboard (its assets, Plotly included, are served from here).
- ``/api/metrics``: the figures of the whole group of workers as JSON (``?scope=worker``:
  this one).
- ``/metrics``: the same in Prometheus text format, of this worker unless ``?scope=group``.
- ``/api/network``: the page-cluster network with the latest recommendations.
- ``/api/scores/``: prequential scores over all transitions this worker's clusters learned.
- ``/api/state``: what the group has learned per cluster (``?scope=worker``: this
  worker's own shards), to compare runs.
- ``/api/sessions/<id>/recommendation``: the session's latest recommendation, answered by
  the worker that owns the session's partition (other workers forward the request).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from faust.exceptions import SameNode

from stream.config import settings
from stream.core.learning.cluster import MODEL_NAMES
from stream.core.learning.prequential import Score
from stream.core.network import NetworkLayout, network_view
from stream.worker.agents import learned_state, merged, metrics, session_partition, shards
from stream.worker.app import app
from stream.worker.metrics import prometheus_text, value_summary
from stream.worker.monitor import group_figures
from stream.worker.topics import pageviews_topic

_WEB = Path(__file__).with_name("web")
_ASSETS = {  # name -> (file, content type): a fixed list, so no path reaches the disk
    "dashboard.js": (_WEB / "dashboard.js", "application/javascript"),
    "dashboard.css": (_WEB / "dashboard.css", "text/css"),
    "plotly.min.js": (importlib.resources.files("plotly") / "package_data" / "plotly.min.js",
                      "application/javascript"),
}
_rule_clusters = settings().clusterer().clusters
_layout = NetworkLayout()


@app.page("/metrics")
async def prometheus(web, request):
    figures = group_figures(request.query.get("scope", "worker"))
    return web.text(prometheus_text(figures, value_summary(merged.values())),
                    content_type="text/plain; version=0.0.4")


@app.page("/api/metrics")
async def metrics_json(web, request):
    figures = group_figures(request.query.get("scope", "group"))
    return web.json(figures | {"values": value_summary(merged.values())})


@app.page("/api/network")
async def network(web, request):
    figures = group_figures()
    # the rules' clusters in their order, then those pages named while running (captures)
    names = (*_rule_clusters, *(c for c in merged.clusters() if c not in _rule_clusters))
    return web.json(network_view(names, figures["network"], figures["latest"],
                                 merged.values(), _layout))


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
    """Prequential scores of each model: totals over every shard's snapshots, and the
    window of the most recent events this worker learned."""
    totals = {name: Score() for name in MODEL_NAMES}
    for cluster in merged.clusters():
        for name, score in merged.row(cluster).scores.items():
            totals[name] += score
    return web.json({name: {"total": totals[name].as_dict(),
                            "window": metrics.scores[name].recent.as_dict()}
                     for name in MODEL_NAMES})


@app.page("/api/state")
async def state(web, request):
    return web.json(learned_state(request.query.get("scope", "group")))


@app.page("/api/sessions/{session_id}/recommendation")
async def session_recommendation(web, request, session_id: str):
    """The latest recommendation of a session, from the owner of its partition."""
    partition = session_partition(session_id)
    shard = shards.ready.get(partition)
    if shard is None or partition not in {s.partition for s in shards.owned()}:
        try:
            return await app.router.route_topic_req(pageviews_topic, session_id.encode(), web,
                                                    request)
        except SameNode:
            return web.json({"error": f"partition {partition} of session {session_id!r} is "
                             "being rebuilt on this worker; try again shortly"}, status=503)
        except Exception as exc:  # no owner known (rebalancing), or it did not answer
            return web.json({"error": f"the owner of partition {partition} could not be "
                             f"asked: {exc!r}"}, status=503)
    latest = shard.latest.get(session_id)
    if latest is None:
        return web.json({"error": f"no open session {session_id!r} with a recommendation "
                         f"(partition {partition})"}, status=404)
    return web.json(latest)
