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

_runs = itertools.count()


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """Bootstrap servers of a real broker: KAFKA_BOOTSTRAP_SERVERS, Docker, or the embedded one."""
    from tests.integration.broker import broker_bootstrap, stop_if_started_by_us
    try:
        bootstrap = broker_bootstrap()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise  # in CI a missing broker is a failure, never a skip
        pytest.skip(f"no Kafka broker could be started here: {exc}")
    yield bootstrap
    stop_if_started_by_us()


@pytest.fixture
def run_settings(kafka_bootstrap, tmp_path):
    """Settings of an isolated run on the shared broker: its own topics, app id and state."""
    def make(**changes) -> Settings:
        run_id = f"t{os.getpid()}-{int(time.time())}-{next(_runs)}"
        base = Settings.from_env()
        config = dataclasses.replace(
            base, bootstrap_servers=kafka_bootstrap, app_id=f"pagepilot-{run_id}",
            data_dir=str(tmp_path / run_id), pageviews_topic=f"{run_id}.pageviews",
            steps_topic=f"{run_id}.steps", recommendations_topic=f"{run_id}.recommendations",
            dead_letter_topic=f"{run_id}.pageviews.dlq", broker_session_timeout_s=10.0,
            web_port=_free_port())
        return dataclasses.replace(config, **changes)
    return make


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
