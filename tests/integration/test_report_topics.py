"""``pagepilot report --from-topics``: the impact report of a running system, read from its
topics on a real broker, with and without a worker."""

import json
import os
import subprocess
import sys

import pytest

from consumers.tally import Tally
from producers.generator import PlantedPath, generate
from producers.replay import encode, make_producer
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration


def send(config, views) -> None:
    producer = make_producer(config)
    for view in views:
        producer.send(config.pageviews_topic, key=view.session_id.encode(), value=encode(view))
    producer.flush()
    producer.close()


def report_from_topics(config, out) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "report", "--from-topics", "--resamples", "30",
         "-o", str(out)], env={**os.environ, **config.to_env()}, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'index.html'}" in result.stdout
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
    finally:
        tally.stop()
        worker.stop()

    report = report_from_topics(config, tmp_path / "report")
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
    report = report_from_topics(config, tmp_path / "report")
    assert report["published"] == {"recommendations": 0}
    assert report["parts"]["evaluation_sessions"] == 200
    assert "no worker has processed these page views" in (
        tmp_path / "report" / "index.html").read_text()
