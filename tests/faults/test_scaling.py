"""Fault d: the worker group scales 1 -> 3 -> 2 during a replay on 6 partitions.

Every page view is recommended; repeats are counted, not forbidden. Per session, the first
copy of each recommendation, read in topic order, has increasing sequence numbers and event
times.
"""

import collections
import json
import time

import pytest

from consumers.subscriber import read_topic
from stream.kafka import admin
from tests.faults.harness import (Ledger, Replay, Workers, numbered_events, record,
                                  wait_for_group, write_events)

pytestmark = pytest.mark.integration


def out_of_order_sessions(config) -> tuple[int, list[str]]:
    """Sessions whose first copies of recommendations are out of page-view order."""
    seen, last, bad = set(), {}, set()
    for value in read_topic(config.recommendations_topic, config=config):
        rec = json.loads(value)
        if rec["event_id"] in seen:
            continue
        seen.add(rec["event_id"])
        key = (rec["sequence"], rec["event_time"])
        previous = last.get(rec["session_id"])
        if previous is not None and (key[0] <= previous[0] or key[1] < previous[1]):
            bad.add(rec["session_id"])
        last[rec["session_id"]] = key
    return len(last), sorted(bad)


def test_scaling_one_three_two_workers_answers_every_view_in_session_order(
        run_settings, tmp_path, artifacts_dir):
    config = run_settings(partitions=6)
    admin.ensure_topics(config, config.topic_partitions())
    events = numbered_events(300, seed=61)
    path = write_events(tmp_path / "events.jsonl", events)
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        first = workers.start()
        with Replay(config, path, tmp_path / "replay.log", "--max-rate", "30") as replay:
            ledger.wait_recommended(120, count=len(events) // 5, workers=workers)
            workers.start()
            third = workers.start()
            scaled = time.time()
            grown = wait_for_group(config, 3, 90, workers)
            ledger.wait_recommended(120, count=len(events) // 2, workers=workers)
            assert replay.running(), replay.output()  # still mid-replay
            workers.stop(third)
            shrunk = wait_for_group(config, 2, 90, workers)
            replay.wait(180)
        ledger.wait_recommended(180, workers=workers)
        result = ledger.reconcile()
        assert first.alive()
    sessions, disordered = out_of_order_sessions(config)
    admin.delete_run_topics(config)
    record(artifacts_dir, "d scale 1-3-2 workers", result, ledger.recovery_after(scaled)[0],
           sessions=sessions, sessions_out_of_order=len(disordered))

    assert len(grown) == 3 and len(shrunk) == 2
    assert result.lost == [] and result.foreign == 0 and result.dead_letters == 0
    assert result.input_offsets == len(events)
    assert sessions == len({view.session_id for view in events})  # the order check saw them all
    assert disordered == [], f"{len(disordered)} sessions out of page-view order: {disordered}"
