"""The live dashboard in headless Chromium, the Prometheus endpoint and `pagepilot watch`,
against a real worker fed by a replay through the broker."""

import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from producers.generator import generate
from producers.replay import Pacing, make_producer, replay
from stream.core.clusters import PageClusterer
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def live_worker(run_settings, tmp_path):
    """A worker being fed about 60 page views a second for the whole test."""
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(config, stop), daemon=True)
    feeder.start()
    try:
        yield config, worker
    finally:
        stop.set()
        feeder.join(timeout=10)
        worker.stop()


def _feed(config, stop: threading.Event) -> None:
    producer = make_producer(config)
    try:
        events = (view for view in generate(5000, seed=11) if not stop.is_set())
        replay(events, producer, config.pageviews_topic, pacing=Pacing(max_rate=60))
    finally:
        producer.close()


def test_dashboard_updates_and_shows_the_network_and_its_recommendations(
        live_worker, browser_page, artifacts_dir):
    config, worker = live_worker
    page, errors = browser_page
    clusters = list(PageClusterer.from_file(config.cluster_rules).clusters)
    page.goto(f"http://127.0.0.1:{config.web_port}/dashboard/")
    page.wait_for_function("window.pagepilot.polls >= 3 && window.pagepilot.network !== null",
                           timeout=60_000)
    page.wait_for_function(  # the worker has published recommendations for a busy page
        "window.pagepilot.network.nodes.some(n => n.cluster === 'home' && n.items.length)",
        timeout=60_000)

    first = _chart_state(page)
    page.wait_for_timeout(3_000)
    second = _chart_state(page)
    assert second["points"] > first["points"]
    assert second["events_in"] > first["events_in"]  # the curve moved with the stream
    assert page.locator("#kpis .kpi").count() >= 10
    assert page.locator("#feed tbody tr").count() > 0

    shown = page.evaluate("document.getElementById('network').data.at(-1).customdata")
    assert shown == clusters
    labels = page.locator("#network .scatterlayer .trace").last.locator("text")
    assert sorted(labels.all_text_contents()) == sorted(clusters)

    _click_node(page, clusters.index("home"))
    page.wait_for_function("document.querySelectorAll('#page-recs tbody tr').length > 0",
                           timeout=10_000)
    assert page.input_value("#page-select") == "home"
    rows = page.locator("#page-recs tbody tr")
    assert 1 <= rows.count() <= config.top_k
    first_row = rows.first.locator("td").all_text_contents()
    assert first_row[0] in clusters and first_row[0] != "home"
    assert "home:" in page.text_content("#page-info")

    page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
    assert errors == []
    assert worker.alive()


def _chart_state(page) -> dict:
    return page.evaluate("""() => {
        const h = window.pagepilot.history;
        return {points: document.getElementById('chart-throughput').data[0].x.length,
                events_in: h[h.length - 1].counters.events_in};
    }""")


def _click_node(page, index: int) -> None:
    """Click a network node where a person would: Plotly listens on the plot area above it."""
    page.locator("#network").scroll_into_view_if_needed()
    node = page.locator("#network .scatterlayer .trace").last.locator(".point").nth(index)
    box = node.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_prometheus_endpoint_and_terminal_view(live_worker):
    config, worker = live_worker
    base = f"http://127.0.0.1:{config.web_port}"
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            content_type = response.headers["Content-Type"]
            families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
        if families["pagepilot_recommendations"].samples[0].value > 50 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert content_type.startswith("text/plain")
    value = {name: f.samples[0].value for name, f in families.items() if f.samples}
    assert value["pagepilot_recommendations"] > 50
    assert value["pagepilot_events_in"] >= value["pagepilot_recommendations"] - 5
    assert value["pagepilot_workers"] == 1
    assert value["pagepilot_resident_memory_bytes"] > 50e6
    lag_partitions = {(s.labels["topic"], s.labels["partition"])
                      for s in families["pagepilot_consumer_lag"].samples}
    assert lag_partitions == {(config.pageviews_topic, str(p)) for p in range(config.partitions)}

    watch = subprocess.run([sys.executable, "-m", "stream.cli", "watch", "--once", "--url", base],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": "160"})
    assert watch.returncode == 0, watch.stderr
    for heading in ("page views in", "Next-page accuracy", "Consumer lag", "Busiest page clusters",
                    "Latest recommendations", config.pageviews_topic):
        assert heading in watch.stdout
    assert worker.alive()
