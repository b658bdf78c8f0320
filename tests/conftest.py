"""Shared fixtures. The integration suite shares one real Kafka broker for the session."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import time

import pytest

# Unit tests import the worker's modules: keep any state they write out of the user's data dir.
os.environ.setdefault("PAGEPILOT_DATA_DIR", tempfile.mkdtemp(prefix="pagepilot-tests-"))

from stream.config import Settings
from stream.tools.processes import run_config
from tests.unavailable import unavailable

_runs = itertools.count()


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """Bootstrap servers of a real broker: KAFKA_BOOTSTRAP_SERVERS, Docker, or the embedded one."""
    from tests.integration.broker import broker_bootstrap, stop_if_started_by_us
    try:
        bootstrap = broker_bootstrap()
    except Exception as exc:
        unavailable(f"no Kafka broker could be started here: {exc}")
    yield bootstrap
    stop_if_started_by_us()


@pytest.fixture
def run_settings(kafka_bootstrap, tmp_path):
    """Settings of an isolated run on the shared broker: its own topics, app id and state."""
    def make(**changes) -> Settings:
        return isolated_settings(kafka_bootstrap, tmp_path, **changes)
    return make


def isolated_settings(kafka_bootstrap: str, directory, **changes) -> Settings:
    """Settings of a run of its own on ``kafka_bootstrap``, its state under ``directory``."""
    run_id = f"t{os.getpid()}-{int(time.time())}-{next(_runs)}"
    config = run_config(Settings.from_env(), run_id, str(directory / run_id))
    return dataclasses.replace(config, **{"bootstrap_servers": kafka_bootstrap,
                                          "broker_session_timeout_s": 10.0,
                                          "web_port": _free_port()} | changes)


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CHROMIUM = os.environ.get("PAGEPILOT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.environ.get("PAGEPILOT_TEST_ARTIFACTS", "test-artifacts")


@pytest.fixture
def browser_page():
    """A page of headless Chromium (Debian's, never a downloaded one) and the list of
    console errors and uncaught page errors it has logged so far."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        try:
            yield page, errors
        finally:
            browser.close()


@pytest.fixture
def artifacts_dir():
    """Where tests write artifacts such as screenshots (PAGEPILOT_TEST_ARTIFACTS)."""
    from pathlib import Path
    path = Path(ARTIFACTS)
    path.mkdir(parents=True, exist_ok=True)
    return path
