"""The worker's web pages, answered by its views (requests made in memory, no server)."""

import json

import pytest
from aiohttp.test_utils import make_mocked_request
from faust.exceptions import SameNode
from prometheus_client.parser import text_string_to_metric_families

from stream.core.learning.cluster import MODEL_NAMES
from stream.worker import agents, monitor, views
from stream.worker.app import app as faust_app
from tests.stream.worker.test_monitor import HERE, learned_shard, other_worker, owned, publish
from tests.stream.worker.test_monitor import worker  # noqa: F401 (the fixture)


async def get(view, path: str, **match):
    """The view's answer to a GET of ``path`` (``match``: the path's parameters)."""
    request = make_mocked_request("GET", path, match_info=match)
    return await view(faust_app, faust_app.web).dispatch(request)


def body(response):
    return json.loads(response.body)


@pytest.mark.parametrize("path, events", [("/api/metrics", 7), ("/api/metrics?scope=worker", 2)])
async def test_api_metrics_are_the_groups_unless_scope_worker(worker, path, events):
    worker.snapshots.update({"a:1": other_worker("a:1", 5), HERE: other_worker(HERE, 2)})
    answer = body(await get(views.metrics_json, path))
    assert answer["counters"]["events_in"] == events
    assert set(answer["values"]) == {"mean_q", "mean_page_value", "clusters_visited"}


@pytest.mark.parametrize("path, events", [("/metrics", 2), ("/metrics?scope=group", 7)])
async def test_prometheus_metrics_are_this_workers_unless_scope_group(worker, path, events):
    worker.snapshots.update({"a:1": other_worker("a:1", 5), HERE: other_worker(HERE, 2)})
    response = await get(views.prometheus, path)
    assert response.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["pagepilot_events_in"].samples[0].value == events


async def test_network_has_the_rule_clusters_then_those_named_while_running(worker):
    shard = owned(worker, learned_shard(0, sessions=3))
    shard.rows["captured"] = shard.rows["home"]
    publish(shard, worker.merged)
    worker.snapshots[HERE] = worker.metrics.snapshot({"network": monitor._network()})
    answer = body(await get(views.network, "/api/network"))
    assert [n["cluster"] for n in answer["nodes"]] == [*views._rule_clusters, "captured"]
    assert {(e["source"], e["target"]) for e in answer["edges"]} == {
        ("home", "cart"), ("captured", "cart")}


async def test_scores_total_every_shards_snapshots_and_window_this_workers(worker):
    publish(owned(worker, learned_shard(0, sessions=4, on_scored=worker.metrics.scored)),
            worker.merged)
    publish(learned_shard(1, sessions=6), worker.merged)  # another worker's shard
    answer = body(await get(views.scores, "/api/scores/"))
    assert set(answer) == set(MODEL_NAMES)
    assert {name: (s["total"]["events"], s["window"]["events"]) for name, s in answer.items()} \
        == dict.fromkeys(MODEL_NAMES, (10, 4))


@pytest.mark.parametrize("path, sessions", [("/api/state", 5), ("/api/state?scope=worker", 3)])
async def test_state_is_the_groups_unless_scope_worker(worker, path, sessions):
    owned(worker, learned_shard(0, sessions=3))  # not published yet
    publish(learned_shard(1, sessions=5), worker.merged)  # published by another worker
    answer = body(await get(views.state, path))
    assert sorted(answer) == ["cart", "home"]
    assert answer["home"]["transitions"] == {"cart": sessions}


def session_on(partition: int) -> str:
    return next(s for s in (f"s{n}" for n in range(100))
                if agents.session_partition(s) == partition)


async def test_a_sessions_recommendation_comes_from_the_shard_that_owns_it(worker):
    session = session_on(0)
    shard = owned(worker, learned_shard(0, sessions=1))
    shard.latest[session] = {"session_id": session, "items": [{"cluster": "cart"}]}
    response = await get(views.session_recommendation, f"/api/sessions/{session}/recommendation",
                         session_id=session)
    assert response.status == 200 and body(response) == shard.latest[session]


async def test_an_unknown_session_is_not_found_with_a_reason(worker):
    session = session_on(0)
    owned(worker, learned_shard(0, sessions=1))
    response = await get(views.session_recommendation, f"/api/sessions/{session}/recommendation",
                         session_id=session)
    assert response.status == 404
    assert body(response)["error"] == (f"no open session {session!r} with a recommendation "
                                       "(partition 0)")


async def test_a_session_of_a_partition_not_assigned_here_is_asked_of_its_owner(worker,
                                                                                monkeypatch):
    session = session_on(0)
    worker.shards.ready[0] = learned_shard(0, sessions=1)  # ready, but no longer assigned
    asked = []

    async def route_topic_req(topic, key, web, request):
        asked.append((topic.get_topic_name(), key))
        return web.json({"from": "owner"})
    monkeypatch.setattr(faust_app.router, "route_topic_req", route_topic_req)
    response = await get(views.session_recommendation, f"/api/sessions/{session}/recommendation",
                         session_id=session)
    assert body(response) == {"from": "owner"}
    assert asked == [(agents.pageviews_topic.get_topic_name(), session.encode())]


@pytest.mark.parametrize("error, reason", [(SameNode(), "is being rebuilt on this worker"),
                                           (KeyError("no owner"), "could not be asked")],
                         ids=["rebuilding-here", "no-owner"])
async def test_an_owner_that_cannot_answer_is_unavailable(worker, monkeypatch, error, reason):
    async def route_topic_req(*args):
        raise error
    monkeypatch.setattr(faust_app.router, "route_topic_req", route_topic_req)
    response = await get(views.session_recommendation, "/api/sessions/s1/recommendation",
                         session_id="s1")
    assert response.status == 503 and reason in body(response)["error"]


async def test_the_dashboard_and_its_assets_are_served(worker):
    page = await get(views.dashboard, "/dashboard/")
    asset = await get(views.dashboard_asset, "/dashboard/dashboard.css", name="dashboard.css")
    assert page.status == 200 and page.content_type == "text/html" and "<html" in page.text
    assert asset.content_type == "text/css" and asset.headers["Cache-Control"] == "max-age=3600"
    assert asset.body == (views._WEB / "dashboard.css").read_bytes()


@pytest.mark.parametrize("name", ["missing.js", "../views.py", "dashboard.html"])
async def test_only_the_listed_assets_are_served(worker, name):
    response = await get(views.dashboard_asset, f"/dashboard/{name}", name=name)
    assert response.status == 404 and response.text == f"no such asset: {name}\n"
