"""``pagepilot report --from-topics``: the impact report of a running system, read from its
topics on a real broker, with and without a worker, and with a worker running an
experiment (its outcomes topic: the Logged experiment section, logged propensities)."""

import json
import os
import subprocess
import sys
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from consumers.tally import Tally
from producers.generator import PlantedPath, generate
from producers.replay import encode, make_producer
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration

EXPERIMENT = """
[[variant]]
name = "default"
share = 0.5
epsilon = 0.3
[[variant]]
name = "markov"
policy = "markov"
share = 0.5
"""


def outcome_records(config) -> int:
    """Messages in the outcomes topic now (end offsets; no read)."""
    consumer = KafkaConsumer(**config.kafka_options(), enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(config.outcomes_topic, p)
                      for p in consumer.partitions_for_topic(config.outcomes_topic) or ()]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        consumer.close()


def wait_for_outcomes(config, settle_s: float = 3.0, timeout_s: float = 60.0) -> int:
    """The outcomes topic's message count once it has stopped growing for ``settle_s``
    (outcomes go out after the recommendation of the page view that ends their session)."""
    deadline, last, since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = outcome_records(config)
        if count != last:
            last, since = count, time.monotonic()
        elif count and time.monotonic() - since >= settle_s:
            break
        time.sleep(0.5)
    return last


def send(config, views) -> None:
    producer = make_producer(config)
    for view in views:
        producer.send(config.pageviews_topic, key=view.session_id.encode(), value=encode(view))
    producer.flush()
    producer.close()


def report_from_topics(config, out, headline: str | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "report", "--from-topics", "--resamples", "30",
         "-o", str(out)], env={**os.environ, **config.to_env()}, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'index.html'}" in result.stdout
    assert "estimated impact (estimated propensities): value per session" in result.stdout
    if headline is not None:
        assert headline in result.stdout, result.stdout
    return json.loads((out / "report.json").read_text())


def test_a_report_of_a_running_worker_compares_what_it_published(run_settings, tmp_path):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(1200, seed=11, plant=PlantedPath()))
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    tally = Tally(config).start()
    try:
        send(config, events)
        send(config, events[:50])  # a producer's retries: the report counts each event once
        assert tally.wait_for(len(events), timeout_s=240), worker.log_tail()
        assert wait_for_outcomes(config) > 0, worker.log_tail()
    finally:
        tally.stop()
        worker.stop()

    # no experiment: the default variant explores (5 %) but logs no other variant's list,
    # so its outcomes give A/B figures and no off-policy estimate with logged propensities
    report = report_from_topics(config, tmp_path / "report",
                                headline="logged experiment (estimated propensities)")
    assert report["propensities"] == "estimated" and report["impact"]["propensities"] == "estimated"
    section = report["logged_experiment"]
    assert section["order"] == ["default"] and section["offpolicy"] == {}
    assert section["outcomes"] > 0.8 * len(events)
    assert "no exploring variant's list of another variant" in report["propensities_note"]
    assert config.pageviews_topic in report["input"]["source"]
    assert report["input"]["page_views"] == report["input"]["valid"] == len(events)
    assert report["input"]["repeated"] == 50 and report["input"]["sessions"] == 1200
    published = report["published"]
    assert published["recommendations"] == len(events)
    assert published["cold_share"] < 0.05 and published["policies"] == ["river+q"]
    assert published["compared"] == report["parts"]["evaluation_page_views"]
    assert 0.2 < published["agreement"] <= 1.0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "What the running system published" in html and "published (share)" in html


def test_a_report_of_page_views_no_worker_has_seen_says_so(run_settings, tmp_path):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    send(config, generate(400, seed=12))
    no_outcomes = "no logged propensities (no outcomes topic records): estimated"
    report = report_from_topics(config, tmp_path / "report", headline=no_outcomes)
    assert report["published"] == {"recommendations": 0}
    assert report["parts"]["evaluation_sessions"] == 200
    assert report["propensities"] == "estimated" and report["logged_experiment"] is None
    assert report["propensities_note"] == no_outcomes
    html = (tmp_path / "report" / "index.html").read_text()
    assert "no worker has processed these page views" in html
    assert "No logged propensities (no outcomes topic records): estimated" in html


def test_a_report_of_a_worker_running_an_experiment_uses_its_logged_propensities(
        run_settings, tmp_path):
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(EXPERIMENT)
    config = run_settings(experiment=str(experiment))
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(1200, seed=13))
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    tally = Tally(config).start()
    try:
        send(config, events)
        send(config, events[:50])  # repeated page views: the worker answers each once
        assert tally.wait_for(len(events), timeout_s=240), worker.log_tail()
        published = wait_for_outcomes(config)
    finally:
        tally.stop()
        worker.stop()

    report = report_from_topics(config, tmp_path / "report",
                                headline="logged experiment (logged propensities)")
    assert report["propensities"] == "logged" and report["impact"]["propensities"] == "estimated"
    section = report["logged_experiment"]
    print(json.dumps(section, indent=1))  # the figures of this run, shown with pytest -s
    # generated sessions spread over 17 hours of event time: most end (30 minutes quiet)
    # before the last sweep, and those are the outcomes
    assert section["counts"]["messages"] == published  # every message read (one a session)
    assert 0.8 * len(events) < section["outcomes"] <= len(events)
    assert 0.8 * 1200 < section["sessions"] <= 1200
    assert section["control"] == "default" and section["order"] == ["default", "markov"]
    assert section["control_from"] == "the experiment file's first served variant"
    assert section["epsilon"] == {"default": [0.3], "markov": [0.0]}
    default, markov = section["variants"]["default"], section["variants"]["markov"]
    assert default["hit_rate"]["n"] + markov["hit_rate"]["n"] == section["outcomes"]
    assert set(markov["vs_control"]) == {"hit_rate", "followed_value", "value_per_session",
                                         "conversion"}
    # markov is estimated off-policy from default's page views, whose every item's
    # probability the worker logged; markov does not explore, so it logs no other list
    assert set(section["offpolicy"]) == {"markov"}
    est = section["offpolicy"]["markov"]
    assert est["logged_by"] == {"default": default["hit_rate"]["n"]}
    assert 0 < est["support"] <= 1 and 0 < est["hit"]["ess"] <= est["hit"]["ips"]["n"]
    for name in ("ips", "snips", "dr"):
        assert est["hit"][name]["low"] is not None and est["value"][name]["mean"] is not None
    # the generator's visitors ignore recommendations, so markov's hit rate where it was
    # served and its DR estimate from default's exploration measure the same thing
    served, dr = markov["hit_rate"], est["hit"]["dr"]
    assert dr["low"] <= served["high"] and served["low"] <= dr["high"]
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<b>Propensities</b>: logged propensities in the Logged experiment section" in html
    assert "6. Logged experiment (logged propensities)" in html
    assert "4. Estimated impact (estimated propensities)" in html
