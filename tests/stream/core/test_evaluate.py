"""``pagepilot evaluate``: the worker's learning code over files, without Kafka."""

import csv
import json
import subprocess
import sys

import pytest

from producers.generator import generate, write_sample
from stream.config import Settings
from stream.core.clusters import ClusterRule, PageClusterer
from stream.core.evaluate import StreamEvaluator, evaluate
from stream.core.experiments import Experiment, Variant
from stream.core.learning.cluster import ClusterLearner
from stream.core.models import EXIT, PageView
from stream.core.policy import rank
from stream.core.shard import Shard
from stream.worker.snapshots import ClusterSnapshot, MergedView

T0 = 1_501_591_568_000

CONFIG = Settings().learning()


def test_report_shape_and_sane_figures():
    report = evaluate(generate(300, seed=5), CONFIG, PageClusterer.default())
    assert set(report["models"]) == {"river", "markov", "popular", "sr", "sknn"}
    events = {figures["events"] for figures in report["models"].values()}
    assert len(events) == 1 and events.pop() > 1000  # every model scored on the same transitions
    for name, figures in report["models"].items():
        assert 0 <= figures["top1"] <= figures["hr3"] <= figures["hr5"] <= 1
        assert figures["top1"] <= figures["mrr"] <= 1
    assert report["models"]["markov"]["hr3"] > report["models"]["popular"]["hr3"]
    assert report["page_value"]["checkout_confirmation"] > report["page_value"].get("home", 0)
    recommended = report["recommended"]  # every page view's recommendation, counted
    assert sum(c["page_views"] for c in recommended["clusters"].values()) == report["events"]
    assert recommended["distinct_lists"] >= len(recommended["clusters"]) > 5


def test_an_experiment_over_a_file_accounts_for_every_page_view():
    experiment = Experiment((Variant("explore", share=0.5, epsilon=0.3),
                             Variant("markov", policy="markov", share=0.5),
                             Variant("shadow", policy="markov", shadow=True)))
    report = evaluate(generate(600, seed=5), CONFIG, PageClusterer.default(),
                      experiment=experiment)
    variants, offpolicy = report["experiment"]["variants"], report["experiment"]["offpolicy"]
    assert sum(arm["hit_rate"]["n"] for arm in variants.values()) == report["events"]
    assert sum(arm["value_per_session"]["n"] for arm in variants.values()) == len(
        {view.session_id for view in generate(600, seed=5)})
    assert set(offpolicy) == {"markov", "shadow"}  # estimated from the exploring arm
    assert offpolicy["markov"] == offpolicy["shadow"]  # one policy, the same estimate
    assert offpolicy["markov"]["hit"]["ips"]["n"] == variants["explore"]["hit_rate"]["n"]
    assert "vs_control" in variants["markov"] and "vs_control" not in variants["explore"]


def test_the_same_events_give_the_same_figures_from_any_file_format(tmp_path):
    pagepilot, as_csv = tmp_path / "views.jsonl", tmp_path / "views.csv"
    write_sample(pagepilot, 200, seed=6)
    write_sample(as_csv, 200, seed=6, fmt="csv")
    reports = [_cli("evaluate", str(path), "--json") for path in (pagepilot, as_csv)]
    accuracy = [{name: {k: v for k, v in figures.items() if k != "events_per_s"}
                 for name, figures in report["models"].items()} for report in reports]
    assert accuracy[0] == accuracy[1]
    assert reports[0]["page_value"] == reports[1]["page_value"]


def test_a_plain_clickstream_of_page_categories(tmp_path):
    clusterer = PageClusterer.default()
    path = tmp_path / "clicks.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sid", "ts", "category"])
        for view in generate(300, seed=8):
            writer.writerow([view.session_id, view.timestamp // 1000,
                             clusterer.cluster_of(view.page_path, view.page_title)])
        writer.writerow(["broken", "not a time", "home"])
    report = _cli("evaluate", str(path), "--columns",
                  "session_id=sid,timestamp=ts,page_path=category", "--json")
    assert report["rows_rejected"] == 1
    assert report["models"]["markov"]["events"] > 1000
    assert report["models"]["markov"]["hr3"] > report["models"]["popular"]["hr3"]


def _cli(*args) -> dict:
    result = subprocess.run([sys.executable, "-m", "stream.cli", *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def per_page_views(sessions: int = 40) -> list[PageView]:
    """Sessions over pages no rule names: /a, then /b/0, /b/1 or /b/2, and every other
    session buys on /buy (50) before leaving."""
    views = []
    for s in range(sessions):
        pages = ["/a", f"/b/{s % 3}"] + (["/buy"] if s % 2 else [])
        for hit, page in enumerate(pages, 1):
            views.append(PageView(event_id=f"s{s}-{hit}", session_id=f"s{s}", visitor_id=f"v{s}",
                                  timestamp=T0 + (60 * s + 10 * hit) * 1000, page_path=page,
                                  revenue=50.0 if page == "/buy" else 0.0, hit_number=hit))
    return views


def test_per_page_clusters_learn_q_values_and_are_merged_and_served():
    """Clusters that appear while learning (a per_page rule) get Q-rows by name, which merge
    over shards and reach the policy: nothing is indexed by the rules' names."""
    clusterer = PageClusterer([ClusterRule.parse({"per_page": True})])
    views = per_page_views()
    evaluator = StreamEvaluator(CONFIG, clusterer)
    for view in views:
        evaluator.learn_one(view)
    evaluator.close_sessions()
    assert clusterer.clusters == ("other",)
    assert set(evaluator.rows) == {"/a", "/b/0", "/b/1", "/b/2", "/buy"}
    home = evaluator.rows["/a"].q
    assert {action for action, _ in home.items()} == {"/b/0", "/b/1", "/b/2"}
    assert sum(home.visits(f"/b/{i}") for i in range(3)) == 40
    assert all(home.q(f"/b/{i}") > 0 for i in range(3))  # they lead to purchases
    assert evaluator.rows["/buy"].q.actions == {EXIT: (0.0, 20)}
    assert evaluator.values["/a"].value == max(home.q(f"/b/{i}") for i in range(3))

    # The same views over two shards (sessions split by number), merged as the workers do.
    learner = ClusterLearner(CONFIG)
    shards = [Shard(p, learner, 30 * 60 * 1000) for p in range(2)]
    for offset, view in enumerate(views):
        shard = shards[int(view.session_id[1:]) % 2]
        shard.apply(view, clusterer.cluster_of(view.page_path), offset=offset, ingest_time=0)
    for shard in shards:
        shard.close_all()
    merged = MergedView()
    for shard in shards:
        for cluster, row in shard.rows.items():
            merged.fold(ClusterSnapshot(shard.partition, cluster, shard.offset, 0,
                                        row, 0))
    row = merged.row("/a")
    for i in range(3):
        page = f"/b/{i}"
        assert row.q.visits(page) == home.visits(page)
        expected = sum(s.rows["/a"].q.q(page) * s.rows["/a"].q.visits(page)
                       for s in shards) / home.visits(page)
        assert row.q.q(page) == pytest.approx(expected)
    items = rank({"/b/0": 0.4, "/b/1": 0.3, "/never": 0.3}, row, merged.values(), CONFIG)
    q = {item["cluster"]: item["q"] for item in items}
    assert q["/b/0"] == round(row.q.q("/b/0"), 6) and q["/b/1"] == round(row.q.q("/b/1"), 6)
    assert q.get("/never", 0.0) == 0.0  # a move never made has Q 0
