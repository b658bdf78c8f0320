"""Untrusted strings in the dashboard and the impact report, opened in headless Chromium.

Session ids, page paths and page titles come from visitors; cluster names (a rules file) and
input file names from whoever runs PagePilot. Page views carrying markup and script in all of
them go through the real broker and a worker, and through ``pagepilot report``; the dashboard
and the report must show them as literal text, build no element from them and run nothing.
A control serves the dashboard with its table cells filled through ``innerHTML`` and checks
that these probes notice.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from producers.generator import generate
from producers.replay import encode, make_producer
from producers.writers import write_pagepilot
from stream.core.clusters import DEFAULT_RULES
from stream.core.models import PageView
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__xss=1</script>"
ATTRIBUTE = "\"'><img src=x onerror=window.__xss=2>"  # breaks out of a quoted attribute
PAYLOADS = (IMG, SCRIPT, ATTRIBUTE)
# A cluster of the rules file that takes every page above (their titles match). Plotly
# renders <b> itself, so an unescaped name would show "bold" in bold, not the tags.
CLUSTER = "<b>bold</b> <img src=x onerror=alert(3)>"
HITS = 3  # page views per hostile session

# What a script or element injected by any of the strings above would leave behind.
PROBE = """() => ({
    xss: typeof window.__xss === "undefined" ? null : window.__xss,
    injected: document.querySelectorAll('img[src="x"], script:not([src]), b').length,
})"""


def rules_file(tmp_path):
    """The bundled rules with a first rule that puts the hostile pages in CLUSTER."""
    path = tmp_path / "rules.toml"
    path.write_text(f"[[rule]]\ncluster = '{CLUSTER}'\ntitle = 'onerror=|__xss'\n\n"
                    + DEFAULT_RULES.read_text())
    return path


def hostile(view: PageView, payload: str, other: str) -> PageView:
    """``view`` in a session named ``payload``, on a page whose path and title carry markup."""
    return PageView(**{**view.asdict(), "session_id": payload,
                       "event_id": f"{payload}-{view.hit_number}",
                       "page_path": f"/search?q={other}",
                       "page_title": f"{payload} | Google Merchandise Store"})


def hostile_sessions(now_ms: int) -> list[PageView]:
    views = []
    for index, payload in enumerate(PAYLOADS):
        for hit in range(1, HITS + 1):
            base = PageView(event_id="-", session_id="-", visitor_id=f"visitor-{index}",
                            timestamp=now_ms - (HITS - hit) * 10_000, page_path="/",
                            device="desktop", channel="Direct", hit_number=hit)
            views.append(hostile(base, payload, PAYLOADS[index - 1]))
    return views


def send(config, views) -> None:
    producer = make_producer(config)
    try:
        for view in views:
            producer.send(config.pageviews_topic, key=view.session_id.encode(), value=encode(view))
        producer.flush(timeout=30)
    finally:
        producer.close()


def recent_sessions(config, timeout_s: float = 90) -> list[str]:
    """Session ids of the worker's live feed once it has answered every hostile page view."""
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{config.web_port}/api/metrics"
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            recent = json.load(response)["recent"]
        if len(recent) >= len(PAYLOADS) * HITS or time.monotonic() > deadline:
            return [rec["session_id"] for rec in recent]
        time.sleep(0.5)


def listening_addresses(pid: int, port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


@pytest.fixture
def hostile_worker(run_settings, tmp_path):
    """A worker (rules with CLUSTER) that has answered page views of the hostile sessions."""
    config = run_settings(cluster_rules=str(rules_file(tmp_path)))
    admin.ensure_topics(config, config.topic_partitions())
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        send(config, hostile_sessions(int(time.time() * 1000)))
        yield config, worker
    finally:
        worker.stop()
        admin.delete_run_topics(config)


def test_the_dashboard_shows_visitor_strings_as_text_and_runs_none(hostile_worker, browser_page):
    config, worker = hostile_worker
    page, errors = browser_page
    assert listening_addresses(worker.pid, config.web_port) == {"127.0.0.1"}
    # The API hands the strings over unchanged: escaping them is the dashboard's job.
    assert sorted(recent_sessions(config)) == sorted(PAYLOADS * HITS), worker.log_tail()

    dialogs = watch_dialogs(page)
    page.goto(f"http://127.0.0.1:{config.web_port}/dashboard/", timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('#feed tbody tr').length >= "
                           f"{len(PAYLOADS) * HITS} && window.pagepilot.network !== null",
                           timeout=60_000)

    feed = page.locator("#feed tbody tr")
    assert sorted(feed.locator("td:nth-child(2)").all_text_contents()) == sorted(PAYLOADS * HITS)
    assert set(feed.locator("td:nth-child(3)").all_text_contents()) == {CLUSTER}

    labels = page.locator("#network .scatterlayer .trace").last.locator("text")
    assert CLUSTER in labels.all_text_contents()  # the node's label, through Plotly
    hover_node(page, CLUSTER)
    page.wait_for_selector("#network .hoverlayer .hovertext", timeout=10_000)
    assert page.text_content("#network .hoverlayer .hovertext").startswith(CLUSTER)

    page.select_option("#page-select", CLUSTER)
    assert page.text_content("#page-info").startswith(f"{CLUSTER}:")
    page.wait_for_timeout(2_500)  # a few more polls redraw everything

    assert dialogs == []
    assert page.evaluate(PROBE) == {"xss": None, "injected": 0}
    assert errors == []
    assert worker.alive()

    # Control: the same checks catch a dashboard that writes its cells as HTML.
    unsafe = page.context.browser.new_page()
    unsafe_dialogs = watch_dialogs(unsafe)
    unsafe.route("**/dashboard/dashboard.js", serve_with_cells_as_html)
    unsafe.goto(f"http://127.0.0.1:{config.web_port}/dashboard/", timeout=30_000)
    unsafe.wait_for_function("window.pagepilot.polls >= 2", timeout=30_000)
    unsafe.wait_for_timeout(1_000)  # image errors fire once the broken images have loaded
    found = unsafe.evaluate(PROBE)
    assert unsafe_dialogs and found["xss"] == 2 and found["injected"] > 0, (unsafe_dialogs, found)


def watch_dialogs(page) -> list[str]:
    """Messages of every alert/confirm/prompt the page opens (each dismissed)."""
    opened: list[str] = []

    def dismiss(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def hover_node(page, cluster: str) -> None:
    """Move the mouse onto a network node, where Plotly shows its hover text."""
    index = page.evaluate("document.getElementById('network').data.at(-1).customdata"
                          ).index(cluster)
    page.locator("#network").scroll_into_view_if_needed()
    node = page.locator("#network .scatterlayer .trace").last.locator(".point").nth(index)
    box = node.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def serve_with_cells_as_html(route) -> None:
    script = route.fetch().text()
    unsafe = script.replace("td.textContent = text;", "td.innerHTML = text;")
    assert unsafe != script, "dashboard.js no longer fills cells with td.textContent"
    route.fulfill(body=unsafe, content_type="application/javascript")


def test_the_report_shows_names_as_text_and_runs_none(tmp_path, browser_page):
    """``pagepilot report`` on a file (named with markup) of sessions with hostile ids,
    paths and titles: the page views count, and the file and cluster names show as text."""
    views = list(generate(400, seed=3))
    sessions = sorted({view.session_id for view in views})[::4]
    marked = {session: PAYLOADS[n % len(PAYLOADS)] for n, session in enumerate(sessions)}
    views = [hostile(view, f"{marked[view.session_id]} {view.session_id}",
                     PAYLOADS[view.hit_number % len(PAYLOADS)])
             if view.session_id in marked else view for view in views]
    source = tmp_path / f"{IMG}.jsonl"
    with open(source, "w") as file:
        write_pagepilot(file, views)
    out = tmp_path / "report"
    env = {**os.environ, "PAGEPILOT_CLUSTER_RULES": str(rules_file(tmp_path))}
    done = subprocess.run([sys.executable, "-m", "stream.cli", "report", str(source), "-o",
                           str(out), "--resamples", "20"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["page_views"] == len(views)  # no hostile page view was refused
    hostile_rows = [row for row in report["policy"] if row["cluster"] == CLUSTER]
    assert hostile_rows and hostile_rows[0]["page_views"] > 0

    html = (out / "index.html").read_text()
    assert "<script" not in html and "<img src=x" not in html
    page, errors = browser_page
    dialogs = watch_dialogs(page)
    page.goto((out / "index.html").as_uri(), timeout=30_000)
    page.wait_for_load_state("load")
    assert f"from file {source}:" in page.text_content("p.note")
    assert CLUSTER in page.locator("td.name").all_text_contents()
    assert dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], script').length") == 0
    assert errors == []
