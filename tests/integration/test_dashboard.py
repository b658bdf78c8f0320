"""The live dashboard in headless Chromium, the Prometheus endpoint and `pagepilot watch`,
against a real worker fed by a replay through the broker; and the dashboard's experiment
panel on an A/B/n test's figures answered in place of a worker."""

import importlib.resources
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from producers.generator import generate
from producers.replay import Pacing, make_producer, replay
from stream.core.clusters import PageClusterer
from stream.kafka import admin
from stream.tools.processes import WorkerProcess
from stream.worker.metrics import WorkerMetrics, merge
from tests.experiment_records import outcome, served

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

    _experiment_panel_shows_the_default_policy(page)
    page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
    page.locator("#experiment").screenshot(path=str(artifacts_dir / "dashboard-experiment.png"))
    assert errors == []
    assert worker.alive()


INTERVAL = re.compile(r"^(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]$")


def _experiment_panel_shows_the_default_policy(page) -> None:
    """No experiment file: one row, the default policy's, with its counters at once and its
    served HR@k with an interval once sessions ended (the replay's event time moves past
    the session timeout within seconds); no difference to a control, no off-policy target."""
    row = page.locator("#experiment-variants tbody tr")
    assert row.count() == 1 and row.get_attribute("data-variant") == "default"
    page.wait_for_function("""() => {
        const hit = window.pagepilot.history.at(-1).experiment.total.variants.default?.hit_rate;
        return hit !== undefined && hit.low !== null;
    }""", timeout=90_000)
    shown = page.evaluate("""() => ({
        metrics: window.pagepilot.history.at(-1),
        cells: [...document.querySelectorAll('#experiment-variants tbody tr td')]
                 .map(td => td.textContent)})""")
    m, cells = shown["metrics"], shown["cells"]
    counts, arm = m["variants"]["default"], m["experiment"]["total"]["variants"]["default"]
    assert cells[0] == "default" and m["experiment"]["control"] == "default"
    assert cells[1:5] == [f"{counts['sessions']:,}", f"{counts['page_views']:,}",
                          f"{counts['explored']:,}", f"{arm['hit_rate']['n']:,}"]
    assert counts["sessions"] > 0 and counts["explored"] > 0  # PAGEPILOT_EXPLORATION 5 %
    hit = INTERVAL.match(cells[5])  # served HR@k: mean [low, high]
    assert hit, cells[5]
    for text, key in zip(hit.groups(), ("mean", "low", "high")):
        assert float(text) == pytest.approx(arm["hit_rate"][key], abs=0.0006)
    assert 0 < float(hit[1]) < 1 and float(hit[2]) < float(hit[1]) < float(hit[3])
    for text in cells[6:8]:  # value per session, conversion: an interval, or one session's mean
        assert INTERVAL.match(text) or re.match(r"^-?\d+\.\d+ \[–, –\]$", text), text
    assert page.locator("#experiment .delta").count() == 0  # nothing to compare with
    assert not page.locator("#experiment-offpolicy").is_visible()
    assert "No off-policy targets" in page.text_content("#experiment-offpolicy-none")

    window = page.locator('#experiment-part button[data-part="window"]')
    assert window.text_content() == "last 600 s"
    window.click()
    assert window.get_attribute("aria-pressed") == "true"
    assert INTERVAL.match(row.locator("td").nth(5).text_content())  # all outcomes are recent
    page.locator('#experiment-part button[data-part="total"]').click()
    assert window.get_attribute("aria-pressed") == "false"


WEB = Path(__file__).parents[2] / "stream" / "worker" / "web"
PLOTLY = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"


def test_experiment_panel_compares_the_variants_to_the_control(browser_page, artifacts_dir):
    """An A/B/n test's figures (gain, the control, explores; relevance; markov served but no
    session ended yet), answered to the dashboard in place of a worker: means with their
    intervals, the differences to the control marked where significant, the off-policy
    target, and the window toggle."""
    page, errors = browser_page
    metrics = json.dumps(_ab_test_metrics())

    def answer(route):
        name = route.request.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if name == "metrics":
            return route.fulfill(body=metrics, content_type="application/json")
        if name == "network":
            return route.fulfill(json={"nodes": [], "edges": []})
        if name == "dashboard":
            return route.fulfill(path=WEB / "dashboard.html", content_type="text/html")
        if name == "plotly.min.js":
            return route.fulfill(body=PLOTLY.read_bytes(), content_type="text/javascript")
        return route.fulfill(path=WEB / name)

    page.route("http://pagepilot.test/**", answer)
    page.goto("http://pagepilot.test/dashboard/")
    page.wait_for_function("window.pagepilot.polls >= 1", timeout=30_000)
    assert page.text_content("#experiment-info") == "control: gain; 3 served variants"
    rows = page.locator("#experiment-variants tbody tr")
    assert [r.get_attribute("data-variant") for r in rows.all()] == ["gain", "markov", "relevance"]
    gain, markov, relevance = (_row(page, "#experiment-variants", n) for n in range(3))
    # total: gain's 20 early missed sessions and 100 recent ones, 60 followed (one page
    # view each: the clustered interval is the binomial's, times sqrt(k / (k - 1)))
    assert gain[:6] == ["gain (control)", "100", "100", "0", "120", "0.500 [0.410, 0.590]"]
    assert markov[1:] == ["1", "1", "0", "0", "–Δ –", "–Δ –", "–Δ –"]
    assert relevance[5] == "0.400 [0.303, 0.497]Δ -0.100 [-0.232, +0.032]"  # not significant
    # no conversion: a share's error is at least a binomial's with 2 + 2 added
    assert relevance[7] == "0.000 [0.000, 0.026]Δ -0.017 [-0.058, +0.025]"
    assert page.locator("#experiment .delta.significant").count() == 0
    assert _row(page, "#experiment-offpolicy", 0) == [
        "relevance", "100 %", "100", "1.200 [1.007, 1.393]", "0.600 [0.503, 0.697]",
        "1.200 [1.007, 1.393]", "100"]

    page.click('#experiment-part button[data-part="window"]')  # the last 600 s: recent only
    gain, _, relevance = (_row(page, "#experiment-variants", n) for n in range(3))
    assert gain[4:6] == ["100", "0.600 [0.503, 0.697]"]
    significant = page.locator("#experiment .delta.significant")
    assert significant.count() == 1 and "down" in significant.get_attribute("class")
    assert relevance[5] == "0.400 [0.303, 0.497]Δ -0.200 [-0.336, -0.064] ▼"
    page.locator("#experiment").screenshot(path=str(artifacts_dir / "dashboard-ab-test.png"))
    assert errors == []


def _ab_test_metrics() -> dict:
    clock = _Clock()
    metrics = WorkerMetrics("w1", clock=clock, control="gain", window_s=600.0)
    for _ in range(20):  # long ago: out of the window
        metrics.session_ended([outcome("gain", followed=False, opens=True)])
    clock.now = 1000.0
    logged = {"relevance": [{"cluster": "bags", "logging_propensity": 0.5}]}
    for variant, followed_of_100, epsilon in (("gain", 60, 0.5), ("relevance", 40, 0.0)):
        for n in range(100):  # 100 sessions of one page view; 2 of gain's buy for 50
            served(metrics, variant, f"{variant}-{n}", 1)
            metrics.session_ended([outcome(variant, n < followed_of_100, True,
                                            50.0 if variant == "gain" and n in (0, 5) else 0.0,
                                            epsilon, logged if epsilon else None)])
    served(metrics, "markov", "m", 1)
    return merge([metrics.snapshot()], now=clock.now) | {
        "values": {"mean_q": 0.0, "mean_page_value": 0.0, "clusters_visited": 0}}


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now




def _row(page, table: str, index: int) -> list[str]:
    return page.locator(f"{table} tbody tr").nth(index).locator("td").all_text_contents()


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
    for heading in ("page views in", "Next-page accuracy", "Experiment, total (control default",
                    "Consumer lag", "Busiest page clusters", "Latest recommendations",
                    config.pageviews_topic):
        assert heading in watch.stdout
    assert worker.alive()
