"""Fault b: ``kill -9`` of the broker in the middle of a replay, then the broker started again.

The broker is a private one (its own ports and data), so killing it disturbs no other test.
Worker and replay must recover by themselves: every page view recommended, none written twice.
"""

import collections
import contextlib
import json
import time

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from consumers.subscriber import read_topic
from stream.kafka import admin
from stream.tools.processes import run_config
from tests.faults.harness import (Ledger, Replay, Workers, numbered_events, private_broker,
                                  record, write_events)

pytestmark = pytest.mark.integration

DOWN_S = 5.0


def wait_for_input(config, count: int, timeout_s: float) -> float:
    """Seconds until the input topic holds ``count`` messages (the replay delivered them)."""
    started = time.monotonic()
    while sum(admin.end_offsets(config, [config.pageviews_topic]).values()) < count:
        assert time.monotonic() - started < timeout_s, f"input incomplete after {timeout_s:.0f}s"
        time.sleep(0.2)
    return time.monotonic() - started


def input_writers(config) -> dict[int, list[int]]:
    """Per input partition, the producer ids the broker tracks for it (idempotent ones only)."""
    partitions = [TopicPartition(config.pageviews_topic, p) for p in range(config.partitions)]
    with contextlib.closing(KafkaAdminClient(**config.kafka_options())) as client:
        states = client.describe_producers(partitions)
    return {tp.partition: [p.producer_id for p in state.active_producers]
            for tp, state in states.items()}


@pytest.fixture
def killable_broker(tmp_path):
    with private_broker(tmp_path / "broker") as instance:
        yield instance


def test_worker_and_replay_ride_out_a_broker_killed_mid_replay(killable_broker, tmp_path,
                                                               artifacts_dir):
    config = run_config(killable_broker.client, "restart", str(tmp_path / "state"))
    admin.ensure_topics(config, config.topic_partitions())
    events = numbered_events(250, seed=31)
    path = write_events(tmp_path / "events.jsonl", events)
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        workers.start()
        # slow enough that the replay is still sending when a quarter is recommended
        with Replay(config, path, tmp_path / "replay.log", "--max-rate", "50") as replay:
            ledger.wait_recommended(60, count=len(events) // 4, workers=workers)
            assert replay.running(), replay.output()  # mid-replay

            killable_broker.kill()
            killed = time.time()
            time.sleep(DOWN_S)
            workers.check_alive()
            assert replay.running(), f"the replay gave up:\n{replay.output()}"
            restart_s = killable_broker.start()
            restarted = time.time()

            replay_s = wait_for_input(config, len(events), 60)
            ledger.wait_recommended(90, workers=workers)
            summary = replay.wait(60)
        result = ledger.reconcile()
        written = collections.Counter(json.loads(value)["event_id"] for value
                                      in read_topic(config.pageviews_topic, config=config))
        writers = input_writers(config)
    first_s, all_s = ledger.recovery_after(restarted)
    record(artifacts_dir, "b broker kill -9 mid-replay", result, first_s,
           all_recommended_s=all_s, all_written_s=replay_s, broker_down_s=restarted - killed,
           broker_start_s=restart_s,
           pageviews_written_twice=sum(n - 1 for n in written.values()))

    assert f"sent {len(events):,} events" in summary and "0 sends failed" in summary, summary
    assert set(written) == ledger.expected  # every page view written ...
    assert max(written.values()) == 1  # ... once: the idempotent producer's retries
    assert all(ids and min(ids) >= 0 for ids in writers.values()), writers  # were idempotent
    assert result.input_offsets == len(events)
    assert result.lost == [] and result.foreign == 0
    assert result.dead_letters == 0
