"""Fault c: one of two workers is frozen (SIGSTOP) longer than its group session timeout in the
middle of a replay, then thawed (SIGCONT).

The group must rebalance (the other worker takes every partition), the frozen worker must
rejoin, and every page view must be recommended; repeats are counted, not forbidden.
"""

import time

import pytest

from stream.kafka import admin
from tests.faults.harness import (Ledger, Replay, Workers, numbered_events, record,
                                  wait_for_group, write_events)

pytestmark = pytest.mark.integration


def test_a_frozen_worker_is_replaced_and_rejoins_without_losing_an_event(
        run_settings, tmp_path, artifacts_dir):
    config = run_settings()  # group session timeout 10 s
    admin.ensure_topics(config, config.topic_partitions())
    inputs = {(topic, p) for topic in (config.pageviews_topic,)
              for p in range(config.partitions)}
    events = numbered_events(300, seed=41)
    path = write_events(tmp_path / "events.jsonl", events)
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        workers.start()
        frozen = workers.start()
        before = wait_for_group(config, 2, 60, workers)
        with Replay(config, path, tmp_path / "replay.log", "--max-rate", "60") as replay:
            ledger.wait_recommended(60, count=len(events) // 4, workers=workers)
            assert replay.running(), replay.output()  # mid-replay

            workers.pause(frozen)
            paused = time.monotonic()
            after = wait_for_group(config, 1, 60, workers)
            rebalanced_s = time.monotonic() - paused
            time.sleep(max(0.0, config.broker_session_timeout_s + 2 - rebalanced_s))
            frozen_s = time.monotonic() - paused
            workers.resume(frozen)
            resumed = time.monotonic()
            rejoined = wait_for_group(config, 2, 60, workers)
            rejoin_s = time.monotonic() - resumed

            ledger.wait_recommended(90, workers=workers)
            replay.wait(30)
        result = ledger.reconcile()
        workers.check_alive()  # both, the thawed one too
    admin.delete_run_topics(config)
    record(artifacts_dir, "c worker SIGSTOP past its session timeout", result, rebalanced_s,
           frozen_s=frozen_s, rejoin_s=rejoin_s,
           group_session_timeout_s=config.broker_session_timeout_s)

    assert frozen_s > config.broker_session_timeout_s
    assert all(inputs & partitions for partitions in before.values())  # both worked before
    (only,) = after.values()
    assert inputs <= only  # the survivor took every input partition over
    assert len(rejoined) == 2 and all(inputs & p for p in rejoined.values())  # work shared again
    assert result.lost == [] and result.foreign == 0 and result.dead_letters == 0
    assert result.input_offsets == len(events)
