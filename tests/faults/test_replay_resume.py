"""Fault: the replay is killed (SIGKILL) mid-way and started again with ``--resume``."""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from consumers.subscriber import read_topic
from producers.generator import write_sample
from stream.kafka import admin

pytestmark = pytest.mark.integration


def test_killed_replay_resumes_without_missing_an_event(run_settings, tmp_path):
    config = run_settings(cache_dir=str(tmp_path / "cache"))
    admin.ensure_topics(config, config.topic_partitions())
    sample = tmp_path / "sessions.jsonl"
    total = write_sample(sample, 400, seed=21)
    env = {**os.environ, **config.to_env()}
    command = [sys.executable, "-m", "stream.cli", "replay", str(sample)]

    first = subprocess.Popen([*command, "--max-rate", "500"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    time.sleep(4)  # a few seconds in: well started, far from done
    assert first.poll() is None, first.stdout.read()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    before = len(list(read_topic(config.pageviews_topic, config=config)))
    assert 0 < before < total

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    skipped = int(resumed.stdout.split("resumed: ")[1].split()[0].replace(",", ""))
    assert 0 < skipped <= before

    values = list(read_topic(config.pageviews_topic, config=config))
    ids = collections.Counter(json.loads(value)["event_id"] for value in values)
    expected = {json.loads(line)["event_id"] for line in sample.read_text().splitlines()}
    assert set(ids) == expected  # nothing missing, nothing foreign
    repeats = sum(n - 1 for n in ids.values())
    assert repeats == len(values) - total
    assert repeats <= before - skipped  # only what the killed replay sent after its checkpoint
    print(f"replay resume: {total} events, killed after {before} written, resumed after "
          f"{skipped}, {repeats} repeats (same event ids)")
