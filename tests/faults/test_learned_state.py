"""Faults a and f: what the worker learns survives kill -9 and the loss of its state directory.

a. A worker is killed with SIGKILL twice during a replay and restarted each time: every page
   view is recommended, repeats are counted, the group commits to the end of every input
   partition, and the learned state equals that of a clean run over the same input topic.
f. A worker's state directory is deleted between two runs: the state rebuilt from the
   changelogs and the steps topic equals the state before.

Counts (transitions, unique views, Q visits, River samples) must be equal. Page-value credit
is a sum of the same revenues in another order: equal within 1e-9 relative. Q-values are
learned against the other clusters' V(s') and page values, read from a GlobalTable that other
partitions update asynchronously, so they depend on timing even between two clean runs (a
move learned before its target's first credit arrived has reward 0 in one run and not in the
other): their visit-weighted mean relative difference must stay within Q_TOLERANCE; the largest
single difference, and the difference between two clean runs, are reported.
"""

import dataclasses
import json
import math
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from stream import broker
from tests.faults.harness import Ledger, Replay, Workers, numbered_events, record, write_events

pytestmark = pytest.mark.integration

Q_TOLERANCE = 0.50  # visit-weighted mean relative difference, see the module docstring
EXACT = ("transitions", "unique_views", "q_visits", "model_samples")


def learned_state(worker) -> dict:
    url = f"http://127.0.0.1:{worker.config.web_port}/api/state"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def differences(expected: dict, got: dict) -> tuple[list[str], dict]:
    """What differs beyond the stated tolerances, and the relative Q differences (visit-weighted
    mean, largest)."""
    problems, worst_q, weighted, visits = [], 0.0, 0.0, 0
    if set(expected) != set(got):
        problems.append(f"clusters differ: {sorted(set(expected) ^ set(got))}")
    for cluster in sorted(set(expected) & set(got)):
        a, b = expected[cluster], got[cluster]
        problems += [f"{cluster}.{key}: {a[key]} != {b[key]}" for key in EXACT if a[key] != b[key]]
        if not math.isclose(a["credited"], b["credited"], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"{cluster}.credited: {a['credited']} != {b['credited']}")
        for qa, qb, n in zip(a["q"], b["q"], a["q_visits"]):
            relative = abs(qa - qb) / max(abs(qa), abs(qb), 1.0)
            worst_q, weighted, visits = max(worst_q, relative), weighted + n * relative, visits + n
    q = {"q_mean_difference": weighted / max(visits, 1), "q_max_difference": worst_q}
    if q["q_mean_difference"] > Q_TOLERANCE:
        problems.append(f"Q-values differ by {q['q_mean_difference']:.1%} on average "
                        f"(tolerance {Q_TOLERANCE:.0%})")
    return problems, q


def clean_run(run_settings, faulty_config, tmp_path: Path, events) -> dict:
    """The state one undisturbed worker learns from the same input topic (own group/topics)."""
    own = run_settings()
    config = dataclasses.replace(own, pageviews_topic=faulty_config.pageviews_topic)
    broker.ensure_topics(own, own.topic_partitions())
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        worker = workers.start()
        ledger.wait_recommended(240, workers=workers)
        ledger.reconcile()
        state = learned_state(worker)
    broker.delete_run_topics(own)  # its own topics, not the shared input
    return state


def test_killed_twice_mid_replay_a_worker_learns_what_a_clean_run_learns(
        run_settings, tmp_path, artifacts_dir):
    config = run_settings()
    broker.ensure_topics(config, config.topic_partitions())
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
    broker.delete_run_topics(config)
    problems, q = differences(expected, faulty)
    baseline_problems, baseline_q = differences(expected, baseline)
    record(artifacts_dir, "a worker kill -9 twice", result, max(recoveries),
           **{name: f"{value:.2%}" for name, value in q.items()},
           **{f"clean_runs_{name}": f"{value:.2%}" for name, value in baseline_q.items()},
           clusters=len(expected),
           transitions=sum(sum(c["transitions"].values()) for c in expected.values()))

    assert result.lost == [] and result.foreign == 0 and result.dead_letters == 0
    assert result.input_offsets == len(events)
    assert baseline_problems == []  # two clean runs: the tolerance holds without faults too
    assert problems == []


def test_a_lost_state_directory_is_rebuilt_to_the_same_state(run_settings, tmp_path,
                                                              artifacts_dir):
    config = run_settings()
    broker.ensure_topics(config, config.topic_partitions())
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
    broker.delete_run_topics(config)
    problems, _ = differences(before, after)
    record(artifacts_dir, "f state directory lost", result, rebuilt_s, clusters=len(before))

    assert result.lost == [] and before
    assert problems == [] and after == before  # rebuilt exactly, floats included
