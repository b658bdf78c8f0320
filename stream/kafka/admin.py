"""Admin requests of the clients and tools: topics made and deleted, offsets, lag and the
worker group's members (kafka-python's admin client, on any cluster)."""

from __future__ import annotations

import contextlib
import logging
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from stream.config import Settings, settings as current_settings
from stream.kafka.credentials import BrokerError


def ensure_topics(cfg: Settings | None, topics: dict[str, int],
                  replication_factor: int | None = None) -> list[str]:
    """Create missing topics with the given partition counts; return the names created.

    Replication factor: 1 on the embedded broker; on an external cluster its own
    ``default.replication.factor`` (-1) unless given. An existing topic whose partition count
    differs from the expected one is an error (Kafka cannot shrink a topic; recreate it).
    """
    cfg = cfg or current_settings()
    if replication_factor is None:
        replication_factor = 1 if cfg.embedded else -1
    with contextlib.closing(KafkaAdminClient(**cfg.kafka_options(),
                                             client_id="pagepilot-admin")) as admin:
        missing = sorted(set(topics) - set(admin.list_topics()))
        if missing:
            _create(admin, {name: topics[name] for name in missing}, replication_factor,
                    cfg.topic_configs())
        _check_partitions(admin, topics)
    return missing


def _create(admin, topics: dict[str, int], replication_factor: int,
            configs: dict[str, dict[str, str]]) -> None:
    request = {name: {"num_partitions": count, "replication_factor": replication_factor,
                      "configs": configs.get(name, {})}
               for name, count in topics.items()}
    response = admin.create_topics(request, raise_errors=False)
    failed = [f"{t['name']}: {t.get('error_message') or t['error_code']}"
              for t in response["topics"] if t["error_code"] not in (0, TopicAlreadyExistsError.errno)]
    if failed:
        raise BrokerError("could not create topics: " + "; ".join(failed))
    admin.wait_for_topics(list(topics), timeout_ms=30_000)


def delete_run_topics(cfg: Settings) -> list[str]:
    """Delete the topics of one throwaway run (demo, bench, test); return the names deleted.

    That is ``cfg.topic_partitions()`` plus Faust's internal topics of ``cfg.app_id``
    (``<app_id>-...``: changelogs, repartition, assignor). Refuses the default app id, so a
    production deployment's topics cannot be removed by accident.
    """
    if cfg.app_id == Settings().app_id:
        raise BrokerError(f"refusing to delete the topics of the default app id {cfg.app_id!r}")
    with contextlib.closing(KafkaAdminClient(**cfg.kafka_options(),
                                             client_id="pagepilot-admin")) as admin:
        existing = admin.list_topics()
        doomed = sorted(name for name in existing
                        if name in cfg.topic_partitions() or name.startswith(f"{cfg.app_id}-"))
        if doomed:
            _delete(admin, doomed)
    return doomed


def _delete(admin, names: list[str], timeout_s: float = 30) -> None:
    response = admin.delete_topics(names, raise_errors=False)
    failed = [f"{t['name']}: {t.get('error_message') or t['error_code']}"
              for t in response["topics"] if t["error_code"] not in (0, UnknownTopicOrPartitionError.errno)]
    if failed:
        raise BrokerError("could not delete topics: " + "; ".join(failed))
    deadline = time.monotonic() + timeout_s
    while set(names) & set(admin.list_topics()):  # deletion reaches the metadata a bit later
        if time.monotonic() > deadline:
            raise BrokerError(f"topics still listed {timeout_s:.0f} s after deletion: {names}")
        time.sleep(0.1)


def _check_partitions(admin, topics: dict[str, int]) -> None:
    described = {t["name"]: len(t.get("partitions") or []) for t in admin.describe_topics(list(topics))}
    wrong = [f"{name} has {described.get(name, 0)} partitions, expected {count}"
             for name, count in sorted(topics.items()) if described.get(name) != count]
    if wrong:
        raise BrokerError("topics exist with the wrong partition count: " + "; ".join(wrong)
                          + " (delete and recreate them, or set PAGEPILOT_PARTITIONS)")


def consumer_lag(cfg: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """Per partition of ``topics``: end offset minus the worker group's committed offset."""
    with contextlib.closing(KafkaAdminClient(**cfg.kafka_options(),
                                             client_id="pagepilot-admin")) as admin:
        committed = admin.list_group_offsets({cfg.app_id: None}).get(cfg.app_id, {})
    end = end_offsets(cfg, topics)
    return {(tp.topic, tp.partition): offset - (committed[tp].offset if tp in committed else 0)
            for tp, offset in end.items()}


def end_offsets(cfg: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset (the next offset to be written) of every partition of ``topics``."""
    with contextlib.closing(KafkaConsumer(**cfg.kafka_options(), group_id=None)) as consumer:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in consumer.partitions_for_topic(topic) or ()]
        return consumer.end_offsets(partitions)


def group_members(cfg: Settings) -> dict[str, set[tuple[str, int]]]:
    """The worker group's members (by member id) and the partitions assigned to each.

    Empty while the group has no members or is rebalancing (no assignment yet).
    """
    # Faust's subscription metadata is not in Kafka's consumer format (kafka-python would warn
    # for every member); its assignment is, and comes decoded.
    logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)
    with contextlib.closing(KafkaAdminClient(**cfg.kafka_options(),
                                             client_id="pagepilot-admin")) as admin:
        group = admin.describe_groups([cfg.app_id])[cfg.app_id]
    if group.get("group_state") != "Stable":
        return {}
    members = {}
    for member in group.get("members") or []:
        assignment = member.get("member_assignment")
        assigned = assignment.get("assigned_partitions", ()) if isinstance(assignment, dict) else ()
        members[member["member_id"]] = {(topic["topic"], partition) for topic in assigned
                                        for partition in topic["partitions"]}
    return members
