"""Faults a and f: what the worker learns survives kill -9 and the loss of its state directory.

a. A worker is killed with SIGKILL twice during a replay and restarted each time: every page
   view is recommended, repeats are counted, the group commits to the end of every input
   partition, and the learned state equals that of a clean run over the same input topic.
f. A worker's state directory is deleted between two runs: the state rebuilt from the
   pageviews topic equals the state before.

The state is read from the worker's own shards (``/api/state?scope=worker``). Each shard is
a deterministic function of its partition's page views (Q-targets use the shard's own
values), so counts (transitions, unique views, Q visits, River samples) and Q-values must be
equal; page-value credit is a sum of the same revenues, equal within 1e-9 relative.
"""

import dataclasses
import json
import math
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from stream.kafka import admin
from tests.faults.harness import Ledger, Replay, Workers, numbered_events, record, write_events

pytestmark = pytest.mark.integration

EXACT = ("transitions", "unique_views", "q", "q_visits", "model_samples")


def learned_state(worker) -> dict:
    url = f"http://127.0.0.1:{worker.config.web_port}/api/state?scope=worker"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def differences(expected: dict, got: dict) -> list[str]:
    """What differs beyond the stated tolerance."""
    problems = []
    if set(expected) != set(got):
        problems.append(f"clusters differ: {sorted(set(expected) ^ set(got))}")
    for cluster in sorted(set(expected) & set(got)):
        a, b = expected[cluster], got[cluster]
        problems += [f"{cluster}.{key}: {a[key]} != {b[key]}" for key in EXACT if a[key] != b[key]]
        if not math.isclose(a["credited"], b["credited"], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"{cluster}.credited: {a['credited']} != {b['credited']}")
    return problems


def clean_run(run_settings, faulty_config, tmp_path: Path, events) -> dict:
    """The state one undisturbed worker learns from the same input topic (own group/topics)."""
    own = run_settings()
    config = dataclasses.replace(own, pageviews_topic=faulty_config.pageviews_topic)
    admin.ensure_topics(own, own.topic_partitions())
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        worker = workers.start()
        ledger.wait_recommended(240, workers=workers)
        ledger.reconcile()
        state = learned_state(worker)
    admin.delete_run_topics(own)  # its own topics, not the shared input
    return state


def test_killed_twice_mid_replay_a_worker_learns_what_a_clean_run_learns(
        run_settings, tmp_path, artifacts_dir):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = numbered_events(300, seed=51)
    path = write_events(tmp_path / "events.jsonl", events)
    recoveries = []
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        worker = workers.start()
        with Replay(config, path, tmp_path / "replay.log", "--max-rate", "25") as replay:
            for share in (4, 2):  # kill at a quarter, then at half of the events recommended
                ledger.wait_recommended(120, count=len(events) // share, workers=workers)
                assert replay.running(), replay.output()  # mid-replay
                workers.kill(worker)
                killed = time.time()
                workers.restart(worker)
                ledger.wait_recommended(120, count=len(ledger.tally.recommendations) + 1,
                                        workers=workers)
                recoveries.append(ledger.recovery_after(killed)[0])
            replay.wait(120)
        ledger.wait_recommended(240, workers=workers)
        result = ledger.reconcile()  # committed == end offsets on every input partition
        faulty = learned_state(worker)
    expected = clean_run(run_settings, config, tmp_path / "clean", events)
    baseline = clean_run(run_settings, config, tmp_path / "clean-again", events)
    admin.delete_run_topics(config)
    problems = differences(expected, faulty)
    baseline_problems = differences(expected, baseline)
    record(artifacts_dir, "a worker kill -9 twice", result, max(recoveries),
           clusters=len(expected),
           transitions=sum(sum(c["transitions"].values()) for c in expected.values()))

    assert result.lost == [] and result.foreign == 0 and result.dead_letters == 0
    assert result.input_offsets == len(events)
    assert baseline_problems == []  # two clean runs learn the same
    assert problems == []


def test_a_lost_state_directory_is_rebuilt_to_the_same_state(run_settings, tmp_path,
                                                              artifacts_dir):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = numbered_events(200, seed=52)
    path = write_events(tmp_path / "events.jsonl", events)
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        worker = workers.start()
        Replay(config, path, tmp_path / "replay.log").wait(120)
        ledger.wait_recommended(240, workers=workers)
        result = ledger.reconcile()
        before = learned_state(worker)
        workers.stop(worker)
        shutil.rmtree(worker.config.data_dir)
        started = time.monotonic()
        workers.restart(worker)
        after = learned_state(worker)
        while set(after) != set(before) and time.monotonic() - started < 90:
            time.sleep(1)  # until the restarted worker holds its partitions again
            after = learned_state(worker)
        rebuilt_s = time.monotonic() - started
    admin.delete_run_topics(config)
    problems = differences(before, after)
    record(artifacts_dir, "f state directory lost", result, rebuilt_s, clusters=len(before))

    assert result.lost == [] and before
    assert problems == [] and after == before  # rebuilt exactly, floats included
