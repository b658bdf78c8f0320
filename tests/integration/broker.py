"""The one real Kafka broker the integration suite shares.

Order of preference (as everywhere in PagePilot): ``KAFKA_BOOTSTRAP_SERVERS`` if set; else an
``apache/kafka`` container through testcontainers when a Docker engine answers; else the
embedded broker (``stream.kafka.broker.up``). Whatever this module started,
``stop_if_started_by_us`` stops at the end of the session; a broker that was already running is
left alone.

The session fixture in ``tests/conftest.py`` turns a missing broker into a failure under
``CI=true`` (never a skip).
"""

from __future__ import annotations

import socket
from pathlib import Path

from stream.config import Settings, settings
from stream.kafka import broker, credentials
from stream.kafka.credentials import BrokerError

KAFKA_IMAGE = "apache/kafka:4.1.1"
STARTUP_TIMEOUT_S = 90

_bootstrap: str | None = None
_failure: str | None = None
_started_embedded: Settings | None = None
_container = None  # testcontainers DockerContainer, when we started one


def broker_bootstrap() -> str:
    """Bootstrap servers of a broker that answers (started once per process if needed).

    Raises :class:`stream.kafka.credentials.BrokerError` when no broker can be had; the failure is
    remembered, so later callers do not wait for it again.
    """
    global _bootstrap, _failure
    if _bootstrap is None and _failure is None:
        try:
            _bootstrap = _find_or_start()
        except Exception as exc:  # noqa: BLE001 - reported once, re-raised to every caller
            _failure = f"no Kafka broker for the integration tests: {exc}"
    if _failure is not None:
        raise BrokerError(_failure)
    return _bootstrap


def stop_if_started_by_us() -> None:
    """Stop the embedded broker or the container if this process started it; else nothing."""
    global _started_embedded, _container, _bootstrap
    if _started_embedded is not None:
        broker.down(_started_embedded)
        _started_embedded = None
    if _container is not None:
        _container.stop()
        _container = None
    _bootstrap = None


def _find_or_start() -> str:
    global _started_embedded
    cfg = settings()
    if not cfg.embedded:
        credentials.wait_until_answers(cfg.bootstrap, STARTUP_TIMEOUT_S)
        return cfg.bootstrap
    if docker_answers():
        return _start_container()
    result = broker.up(cfg, wait_s=STARTUP_TIMEOUT_S)
    if result.started:
        _started_embedded = cfg
    return result.bootstrap


def docker_answers() -> bool:
    """True when a Docker engine answers a ping within a couple of seconds."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no SDK, no socket, no engine: all mean "no Docker"
        return False


def _start_container() -> str:
    """A single-node KRaft ``apache/kafka`` container, advertised on a fixed host port."""
    global _container
    from testcontainers.core.container import DockerContainer

    port = _free_port()
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    host = container.get_docker_client().host()
    for key, value in _container_env(f"{host}:{port}").items():
        container.with_env(key, value)
    _container = container.start()
    credentials.wait_until_answers(f"{host}:{port}", STARTUP_TIMEOUT_S)
    return f"{host}:{port}"


def _container_env(advertised: str) -> dict[str, str]:
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{advertised}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_NUM_PARTITIONS": str(settings().partitions),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A free loopback port whose successor is free too (an embedded broker and its controller)."""
    for _ in range(50):
        port = _free_port()
        with socket.socket() as probe:
            if port < 65535 and probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise RuntimeError("no two free consecutive ports")


def private_cache(directory: Path) -> Path:
    """A cache dir for a private embedded broker under ``directory``, sharing the jar cache.

    Raises :class:`stream.kafka.credentials.BrokerError` when the Kafka jars cannot be had.
    """
    jars = broker.ensure_jars(settings()).parent
    cache = directory / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / jars.name).symlink_to(jars, target_is_directory=True)
    return cache
