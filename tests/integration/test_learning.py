"""Learning state through the real broker: it survives restarts and lost local state, and
two workers answer every page view once."""

import itertools
import json
import shutil
import time
import urllib.request

import pytest
from kafka.partitioner.default import murmur2

from consumers.tally import Tally
from producers.generator import generate
from producers.replay import encode, make_producer
from stream.core.clusters import PageClusterer
from stream.core.models import PageView
from stream.kafka import admin
from stream.tools.processes import WorkerProcess, wait_until_idle
from stream.worker.agents import SNAPSHOT_EVERY_S

pytestmark = pytest.mark.integration

PROBE_PAGES = ["/home", "/google+redesign/apparel/mens/mens+t+shirts", "/basket.html",
               "/google+redesign/drinkware", "/signin.html", "/google+redesign/bags"]


def send(config, views):
    producer = make_producer(config)
    for view in views:
        producer.send(config.pageviews_topic, key=view.session_id.encode(), value=encode(view))
    producer.flush()
    producer.close()


START_MS = 1_501_545_600_000  # the generator's first day, 2017-08-01


def probes(tag: str, partitions: int = 4) -> list[PageView]:
    """Landing page views of new sessions: answered, but they teach the models nothing.

    Their event time is the start of the sample, so they do not move the stream's clock and
    close no session (which would teach the models the exit). The n-th probe of every tag is
    on the same input partition: a shard answers with its own River model.
    """
    return [PageView(event_id=session, session_id=session, visitor_id="probe",
                     timestamp=START_MS, page_path=page, device="desktop", channel="Direct")
            for n, page in enumerate(PROBE_PAGES)
            for session in [_on_partition(f"probe-{tag}-{n}", n % partitions, partitions)]]


def _on_partition(name: str, partition: int, partitions: int) -> str:
    """``name`` with the first suffix that the producers' partitioner puts on ``partition``."""
    return next(f"{name}-{salt}" for salt in itertools.count()
                if (murmur2(f"{name}-{salt}".encode()) & 0x7FFFFFFF) % partitions == partition)


def answers(tally: Tally, tag: str) -> list:
    recs = [tally.recommendations[view.event_id] for view in probes(tag)]
    return [(rec.cluster, rec.fallback, rec.policy_version,
             [(item.cluster, item.probability, item.q) for item in rec.items]) for rec in recs]


def test_models_and_q_values_survive_a_restart_and_lost_local_state(run_settings, tmp_path):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(800, seed=9))  # each shard's River models warm up on a quarter
    half = len(events) // 2
    tally = Tally(config).start()
    try:
        worker = WorkerProcess(config, tmp_path / "w1.log").start()
        send(config, events[:half])
        assert tally.wait_for(half, timeout_s=240), worker.log_tail()
        wait_until_idle(config)
        time.sleep(2 * SNAPSHOT_EVERY_S)  # serving reads snapshots: let them catch up
        send(config, probes("before"))
        assert tally.wait_for(half + len(PROBE_PAGES), timeout_s=120), worker.log_tail()
        worker.stop()

        worker = WorkerProcess(config, tmp_path / "w2.log").start()  # same state directory
        send(config, probes("restarted"))
        assert tally.wait_for(half + 2 * len(PROBE_PAGES), timeout_s=120), worker.log_tail()
        worker.stop()

        shutil.rmtree(config.data_dir)  # local state lost: rebuilt from the pageviews topic
        worker = WorkerProcess(config, tmp_path / "w3.log").start()
        send(config, probes("rebuilt"))
        assert tally.wait_for(half + 3 * len(PROBE_PAGES), timeout_s=120), worker.log_tail()
        send(config, events[half:])  # and the replay goes on
        assert tally.wait_for(len(events) + 3 * len(PROBE_PAGES), timeout_s=240), worker.log_tail()
        rebuilt_log = worker.log_tail(400)
        worker.stop()
    finally:
        tally.stop()

    before = answers(tally, "before")
    assert sum(fallback is None for _c, fallback, _v, _i in before) >= 4  # warm models
    assert answers(tally, "restarted") == before
    assert answers(tally, "rebuilt") == before
    assert "page views from the pageviews log" in rebuilt_log
    assert {view.event_id for view in events} <= set(tally.recommendations)


def test_two_workers_answer_every_page_view_once_and_their_metrics_add_up(run_settings, tmp_path):
    config = run_settings(partitions=6)
    second = run_settings(partitions=6, app_id=config.app_id, pageviews_topic=config.pageviews_topic,
                          snapshots_topic=config.snapshots_topic,
                          recommendations_topic=config.recommendations_topic,
                          dead_letter_topic=config.dead_letter_topic,
                          metrics_topic=config.metrics_topic)
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(300, seed=4))
    workers = [WorkerProcess(config, tmp_path / "a.log").start(),
               WorkerProcess(second, tmp_path / "b.log").start()]
    tally = Tally(config).start()
    try:
        send(config, events)
        assert tally.wait_for(len(events), timeout_s=240), workers[0].log_tail()
        tally.wait_for(len(events) + 1, timeout_s=3)
        assert all(worker.alive() for worker in workers)
        cluster = wait_for_cluster_metrics(config, len(events) + tally.duplicates)
        per_worker = [worker_metrics(c, "worker") for c in (config, second)]
        logs = [worker.log_tail(2000) for worker in workers]
    finally:
        tally.stop()
        for worker in workers:
            worker.stop()
    assert set(tally.recommendations) == {view.event_id for view in events}
    assert tally.duplicates == 0
    # either worker answers for the cluster: the sum of both, read through the metrics topic
    assert len(cluster["workers"]) == 2
    assert cluster["counters"]["recommendations"] == len(events)
    assert [sum(w["counters"][name] for w in per_worker) for name in ("events_in", "recommendations")] \
        == [cluster["counters"]["events_in"], cluster["counters"]["recommendations"]]
    assert all(w["counters"]["recommendations"] > 0 for w in per_worker)
    owned = [p for w in cluster["workers"] for p in w["partitions"]]
    assert sorted(owned) == sorted(f"{config.pageviews_topic}:{p}" for p in range(6))
    assert cluster["accuracy"]["river"]["total"]["events"] > 0
    clusterer = PageClusterer.default()
    for view in events:
        assert tally.recommendations[view.event_id].cluster == clusterer.cluster_of(
            view.page_path, view.page_title)


def worker_metrics(config, scope: str = "group") -> dict:
    url = f"http://127.0.0.1:{config.web_port}/api/metrics?scope={scope}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_for_cluster_metrics(config, recommendations: int, timeout_s: float = 30) -> dict:
    """The cluster's figures once both workers' snapshots count ``recommendations``."""
    deadline = time.monotonic() + timeout_s
    while True:
        figures = worker_metrics(config)
        if figures["counters"]["recommendations"] >= recommendations and len(figures["workers"]) == 2:
            return figures
        if time.monotonic() > deadline:
            return figures  # the assertions say what is missing
        time.sleep(0.5)
