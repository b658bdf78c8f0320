"""The replay, worker and recommendations commands as a user runs them, through the broker."""

import json
import os
import subprocess
import sys

import pytest

from consumers.subscriber import on_recommendation, subscribe
from producers.generator import write_sample
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration


def pagepilot(config, *args, timeout=120):
    env = {**os.environ, **config.to_env()}
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_replay_reports_bad_rows_and_the_worker_answers_every_good_one(run_settings, tmp_path):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    sample = tmp_path / "clicks.csv"
    write_sample(sample, 40, seed=5, fmt="csv")
    lines = sample.read_text().splitlines()
    lines.insert(3, "this,row,is,broken")
    sample.write_text("\n".join(lines) + "\n")
    good = len(lines) - 2  # header and the broken row

    replayed = pagepilot(config, "replay", str(sample), "--format", "csv", "--max-rate", "2000")
    assert replayed.returncode == 0, replayed.stderr
    assert f"{sample}:4: rejected:" in replayed.stderr
    assert f"sent {good:,} events" in replayed.stdout and "1 input rows rejected" in replayed.stdout

    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        recs = list(subscribe(follow=True, unique=True, config=config, idle_timeout_s=15))
    finally:
        worker.stop()
    assert len(recs) == good

    session = recs[0].session_id
    printed = pagepilot(config, "recommendations", "--session", session, "--json")
    assert printed.returncode == 0, printed.stderr
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert lines and all(line["session_id"] == session for line in lines)
    assert {line["event_id"] for line in lines} == {r.event_id for r in recs if r.session_id == session}

    seen = []
    assert on_recommendation(seen.append, config=config) == len(recs) == len(seen)


def test_worker_fails_clearly_without_a_broker(run_settings):
    config = run_settings(bootstrap_servers="127.0.0.1:1")
    result = pagepilot(config, "worker", timeout=60)
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr
