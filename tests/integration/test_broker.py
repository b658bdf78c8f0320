"""The broker PagePilot runs on: topics, a real round trip, and the embedded broker's lifecycle.

Tests on the shared broker use whatever ``broker_bootstrap`` found (external, Docker or
embedded). Lifecycle tests run a *private* embedded broker on free ports under ``tmp_path``
(sharing the jar cache), so stopping it never disturbs the shared one.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import uuid

import psutil
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from stream.config import Settings, settings
from stream.kafka import admin, broker
from stream.kafka.credentials import BrokerError
from tests.unavailable import unavailable

pytestmark = pytest.mark.integration


def _topic(prefix: str) -> str:
    return f"test-{prefix}-{uuid.uuid4().hex[:8]}"


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as client:
        return {t["name"]: len(t["partitions"]) for t in client.describe_topics(names)}


# --------------------------------------------------------------------------- shared broker


@pytest.fixture
def shared_cfg(kafka_bootstrap) -> Settings:
    """Settings pointing at the session's shared broker (started once, stopped at the end)."""
    cfg = settings()
    if kafka_bootstrap == cfg.bootstrap:
        return cfg
    return dataclasses.replace(cfg, bootstrap_servers=kafka_bootstrap)


def test_the_shared_broker_answers(shared_cfg):
    cfg = shared_cfg
    assert broker.status(cfg).answering
    assert broker.up(cfg).answering  # already up: returns at once, starts nothing new


def test_ensure_topics_creates_missing_topics_with_their_partition_counts(shared_cfg):
    cfg = shared_cfg
    topics = {_topic("one"): 1, _topic("three"): 3}

    created = admin.ensure_topics(cfg, topics)

    assert sorted(created) == sorted(topics)
    assert _partition_counts(cfg.bootstrap, list(topics)) == topics
    assert admin.ensure_topics(cfg, topics) == []  # second call: nothing to do


def test_ensure_topics_rejects_an_existing_topic_with_another_partition_count(shared_cfg):
    cfg = shared_cfg
    name = _topic("two")
    admin.ensure_topics(cfg, {name: 2})

    with pytest.raises(BrokerError, match=f"{name} has 2 partitions, expected 4"):
        admin.ensure_topics(cfg, {name: 4})


def test_delete_run_topics_removes_exactly_the_runs_topics(shared_cfg):
    run = _topic("run")
    cfg = dataclasses.replace(shared_cfg, app_id=f"pagepilot-{run}", pageviews_topic=f"{run}.pv",
                              snapshots_topic=f"{run}.snapshots", recommendations_topic=f"{run}.recs",
                              dead_letter_topic=f"{run}.dlq")
    bystander = _topic("bystander")
    admin.ensure_topics(cfg, {**cfg.topic_partitions(), f"{cfg.app_id}-table-changelog": 1,
                               bystander: 1})

    deleted = admin.delete_run_topics(cfg)

    assert sorted(deleted) == sorted([*cfg.topic_partitions(), f"{cfg.app_id}-table-changelog"])
    with KafkaAdminClient(bootstrap_servers=cfg.bootstrap) as client:
        left = set(client.list_topics())
    assert bystander in left and not left & set(deleted)
    with pytest.raises(BrokerError, match="default app id"):
        admin.delete_run_topics(dataclasses.replace(cfg, app_id=Settings().app_id))


def test_a_produce_consume_round_trip_keeps_every_message_and_key_order(shared_cfg):
    cfg = shared_cfg
    name = _topic("roundtrip")
    admin.ensure_topics(cfg, {name: 4})
    sent = [(f"session-{i % 7}", f"view-{i}") for i in range(200)]

    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap)
    for key, value in sent:
        producer.send(name, key=key.encode(), value=value.encode())
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(name, bootstrap_servers=cfg.bootstrap, group_id=_topic("group"),
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    received = []
    for message in consumer:
        received.append((message.key.decode(), message.value.decode()))
        if len(received) == len(sent):
            break
    consumer.close()

    assert sorted(received) == sorted(sent)
    for session in {key for key, _ in sent}:  # one key, one partition: order is kept
        assert [v for k, v in received if k == session] == [v for k, v in sent if k == session]


# --------------------------------------------------------------------------- private broker


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with socket.socket() as probe:
            if port < 65535 and probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise RuntimeError("no two free consecutive ports")


@pytest.fixture
def private_cfg(tmp_path) -> Settings:
    """Settings for a private embedded broker in tmp_path, on free ports, sharing the jars."""
    shared = settings()
    try:
        jars = broker.ensure_jars(shared).parent
    except BrokerError as exc:
        unavailable(str(exc))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / jars.name).symlink_to(jars, target_is_directory=True)
    cfg = dataclasses.replace(shared, bootstrap_servers="", cache_dir=str(cache),
                              broker_port=_free_port_pair(), broker_heap="256m")
    yield cfg
    broker.down(cfg, timeout_s=10)


def test_a_private_broker_starts_once_survives_restart_and_stops(private_cfg):
    cfg = private_cfg
    assert not broker.status(cfg).running

    first = broker.up(cfg)
    again = broker.up(cfg)

    assert first.started and first.answering and first.pid
    assert not again.started and again.pid == first.pid
    assert os.getsid(first.pid) != os.getsid(0)  # own session: Ctrl-C here does not reach it
    admin.ensure_topics(cfg, {"kept": 3})
    cluster_id = (first.data_dir.parent / "cluster-id").read_text()

    assert broker.down(cfg)
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == "zombie"
    assert not broker.status(cfg).running
    assert not broker.down(cfg)  # nothing running: a no-op

    second = broker.up(cfg)
    assert second.started and second.pid != first.pid
    assert (second.data_dir.parent / "cluster-id").read_text() == cluster_id
    assert _partition_counts(cfg.bootstrap, ["kept"]) == {"kept": 3}


def test_a_lost_pid_file_is_recovered_from_the_port_owner(private_cfg):
    started = broker.up(private_cfg)
    (started.data_dir.parent / "broker.pid").unlink()

    assert broker.status(private_cfg).pid == started.pid
    assert broker.down(private_cfg)


def test_down_never_kills_a_process_that_is_not_our_broker(private_cfg):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = broker.status(private_cfg).data_dir.parent / "broker.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{sleeper.pid}\n")

        assert broker.down(private_cfg) is False
        assert sleeper.poll() is None  # still alive
        assert not pid_file.exists()  # the stale pid file is gone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_up_says_clearly_when_the_port_belongs_to_someone_else(private_cfg):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private_cfg.broker_port))
        squatter.listen()
        with pytest.raises(BrokerError, match="not PagePilot's broker"):
            broker.up(private_cfg, wait_s=5)


def test_reset_stops_the_broker_and_removes_its_data(private_cfg):
    started = broker.up(private_cfg)
    broker.reset(private_cfg)

    assert not psutil.pid_exists(started.pid) or psutil.Process(started.pid).status() == "zombie"
    assert not started.data_dir.parent.exists()
    assert broker.jars_ready(private_cfg)  # the jar cache is untouched


def test_an_external_cluster_is_never_started_stopped_or_reset():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    cfg = dataclasses.replace(settings(), bootstrap_servers=dead)

    assert not broker.status(cfg).answering
    with pytest.raises(BrokerError, match="did not answer"):
        broker.up(cfg, wait_s=2)
    assert broker.down(cfg) is False
    with pytest.raises(BrokerError, match="refusing"):
        broker.reset(cfg)
