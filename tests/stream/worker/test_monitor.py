"""The worker's live metrics: its gauges, the group's snapshots, and what it publishes."""

import asyncio
import inspect
import json
import logging
from types import SimpleNamespace

import pytest
from faust.types import TP

from stream.core.learning.cluster import ClusterRow
from stream.core.learning.markov import NextPageCounts
from stream.core.models import EXIT, PageView
from stream.core.shard import Shard
from stream.worker import agents, monitor, views
from stream.worker.app import app as faust_app
from stream.worker.metrics import WorkerMetrics
from stream.worker.snapshots import ClusterSnapshot, MergedView

T0 = 1_501_591_568_000
HERE = "here:6066"
INPUT = agents.pageviews_topic.get_topic_name()


@pytest.fixture
async def worker(monkeypatch):
    """This worker with nothing learned, measured or assigned yet, in every module that
    holds its shards, merged view and metrics; ``assigned`` is its consumer's assignment,
    ``ends`` the end offsets its consumer knows."""
    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    state = SimpleNamespace(shards=agents.Shards(), merged=MergedView(),
                            metrics=WorkerMetrics(HERE), snapshots={}, assigned=set(), ends={})
    for module in (agents, monitor, views):
        for name in ("shards", "merged", "metrics"):
            monkeypatch.setattr(module, name, getattr(state, name))
    monkeypatch.setattr(monitor, "snapshots", state.snapshots)
    monkeypatch.setattr(faust_app.consumer, "assignment", lambda: state.assigned)
    monkeypatch.setattr(faust_app.consumer, "highwater", state.ends.get)
    return state


def learned_shard(partition: int, sessions: int, on_scored=None) -> Shard:
    """A shard that saw ``sessions`` sessions go from home to cart (still open)."""
    shard = Shard(partition, agents.learner, agents._timeout_ms, on_scored=on_scored)
    for n in range(sessions):
        for step, cluster in enumerate(("home", "cart")):
            view = PageView(event_id=f"s{n}-{step}", session_id=f"s{n}", visitor_id="v",
                            timestamp=T0 + (n * 60 + step * 10) * 1000, page_path=f"/{cluster}")
            shard.apply(view, cluster, offset=shard.offset + 1, ingest_time=0)
    return shard


def owned(state, shard: Shard) -> Shard:
    """``shard`` ready and its partition assigned to this worker."""
    state.shards.ready[shard.partition] = shard
    state.assigned.add(TP(INPUT, shard.partition))
    return shard


def publish(shard: Shard, merged: MergedView) -> None:
    for cluster in sorted(shard.rows):
        merged.fold(agents._snapshot(shard, cluster))


def other_worker(name: str, events: int) -> dict:
    metrics = WorkerMetrics(name)
    for _ in range(events):
        metrics.received()
    return metrics.snapshot()


async def test_the_latest_snapshot_of_each_worker_is_kept(worker):
    for snapshot in (other_worker("a:1", 1), other_worker("b:1", 2), other_worker("a:1", 3)):
        monitor._keep(json.dumps(snapshot).encode())
    assert {w: s["counters"]["events_in"] for w, s in worker.snapshots.items()} == {
        "a:1": 3, "b:1": 2}


@pytest.mark.parametrize("raw", [b"not json", b'{"no": "worker"}', b"[1]", b"null",
                                 b'{"worker": "x:1"}'],
                         ids=["not-json", "no-worker", "a-list", "null", "no-figures"])
async def test_a_malformed_snapshot_is_ignored(worker, caplog, raw):
    with caplog.at_level(logging.WARNING, logger=monitor.__name__):
        monitor._keep(raw)
    assert worker.snapshots == {} and "malformed" in caplog.text
    assert monitor.group_figures("group")["workers"] == []  # the group still merges


@pytest.mark.parametrize("scope, workers, events", [
    ("group", ["a:1", HERE], 7), ("cluster", ["a:1", HERE], 7), ("worker", [HERE], 2)])
async def test_group_figures_are_every_workers_unless_scope_worker(worker, scope, workers,
                                                                   events):
    worker.snapshots.update({"a:1": other_worker("a:1", 5), HERE: other_worker(HERE, 2)})
    figures = monitor.group_figures(scope)
    assert [row["worker"] for row in figures["workers"]] == workers
    assert figures["counters"]["events_in"] == events


async def test_worker_figures_before_the_first_publish_are_measured_now(worker):
    owned(worker, learned_shard(0, sessions=3))
    worker.snapshots["a:1"] = other_worker("a:1", 5)
    figures = monitor.group_figures("worker")
    assert [row["worker"] for row in figures["workers"]] == [HERE]
    assert figures["open_sessions"] == 3 and figures["counters"]["events_in"] == 0


async def test_gauges_count_the_shards_of_assigned_partitions_only(worker):
    mine = owned(worker, learned_shard(0, sessions=3))
    worker.shards.ready[1] = learned_shard(1, sessions=5)  # ready, but no longer assigned
    publish(mine, worker.merged)
    gauges = monitor._gauges()
    assert gauges["open_sessions"] == 3 and gauges["partitions"] == [f"{INPUT}:0"]
    assert gauges["tables"] == {"sessions": 3, "clusters": 2, "snapshots": 2}
    assert gauges["memory_rss_bytes"] > 0


async def test_lag_counts_from_the_last_read_offset_else_the_committed_one(worker,
                                                                          monkeypatch):
    read, ahead, unread, unknown = (TP(INPUT, p) for p in range(4))
    worker.assigned.update({read, ahead, unread, unknown, TP("other", 0)})
    worker.ends.update({read: 10, ahead: 10, unread: 9, TP("other", 0): 50})
    monkeypatch.setattr(faust_app.monitor, "tp_read_offsets", {read: 4, ahead: 12})
    monkeypatch.setattr(faust_app.monitor, "tp_committed_offsets", {unread: 7})
    assert monitor._lag() == {INPUT: {"0": 5, "1": 0, "2": 2}}


async def test_network_has_each_clusters_transitions_and_next_clusters_but_exit(worker):
    shard = learned_shard(0, sessions=4)
    shard.close_all()  # every session leaves from cart
    publish(shard, worker.merged)
    assert monitor._network() == {
        "cart": {"transitions": 4, "exit_rate": 1.0, "next": {}},
        "home": {"transitions": 4, "exit_rate": 0.0, "next": {"cart": 1.0}}}


async def test_network_keeps_the_most_likely_next_clusters(worker):
    counts = {f"c{n}": n for n in range(1, 11)}
    worker.merged.fold(ClusterSnapshot(0, "home", offset=0, published_ms=0, model_samples=0,
                                       row=ClusterRow(markov=NextPageCounts(counts))))
    top = [f"c{n}" for n in range(10, 10 - monitor.NETWORK_EDGES, -1)]
    assert list(monitor._network()["home"]["next"]) == top


async def test_the_exit_takes_no_place_among_the_next_clusters(worker):
    counts = {EXIT: 100, **{f"c{n}": n for n in range(1, 11)}}
    worker.merged.fold(ClusterSnapshot(0, "home", offset=0, published_ms=0, model_samples=0,
                                       row=ClusterRow(markov=NextPageCounts(counts))))
    assert len(monitor._network()["home"]["next"]) == monitor.NETWORK_EDGES


async def test_published_metrics_are_this_workers_snapshot_kept_and_sent(worker,
                                                                        monkeypatch):
    sent = []

    async def send(key, value):
        sent.append((key, json.loads(value)))
    monkeypatch.setattr(monitor.metrics_topic, "send", send)
    owned(worker, learned_shard(0, sessions=2))
    worker.metrics.received()
    await inspect.unwrap(monitor.publish_metrics)()
    assert sent == [(HERE, worker.snapshots[HERE])]
    assert worker.snapshots[HERE]["counters"]["events_in"] == 1
    assert worker.snapshots[HERE]["open_sessions"] == 2
