"""Kafka security for real: private embedded brokers that only speak SASL_SSL (SCRAM-SHA-256,
with a CA made here by ``openssl``) or SASL_PLAINTEXT (PLAIN).

The settings come from the environment, as a deployment's would; replay, worker and
subscriber connect with them; a wrong password fails at once and says why; the password is
printed nowhere. The brokers run on their own ports and cache dirs (sharing the jars), so the
shared test broker is not disturbed.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from consumers.subscriber import read_topic, subscribe
from producers.generator import write_sample
from producers.replay import make_producer
from stream.config import Settings
from stream.kafka import admin, broker
from stream.kafka.credentials import BrokerError
from stream.tools.processes import WorkerProcess, run_config
from tests.integration.broker import free_port_pair, private_cache
from tests.unavailable import unavailable

pytestmark = pytest.mark.integration

USER = "alice"
PASSWORD = f'pw-{uuid.uuid4().hex[:12]}-"quoted"\\end'  # a quote and a backslash: escaping holds
WRONG = f"wrong-{uuid.uuid4().hex[:12]}"

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
"""


def _tls_files(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA and the broker's PEM keystore (key and certificate for 127.0.0.1)."""
    if not shutil.which("openssl"):
        unavailable("`openssl` is needed to make the test CA")
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    ca, ca_key, key, request, cert = (directory / name for name in
                                      ("ca.pem", "ca.key", "server.key", "server.csr", "server.pem"))
    for command in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-config", config, "-extensions", "ca", "-keyout", ca_key, "-out", ca],
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-config", config, "-keyout", key, "-out", request],
            ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "1", "-extfile", config, "-extensions", "server", "-out", cert]):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    keystore = directory / "keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text())
    return ca, keystore


def _secured_broker(directory: Path, **env: str):
    """Start a private broker whose settings come from the environment; yield client settings."""
    try:
        cache = private_cache(directory)
    except BrokerError as exc:
        unavailable(str(exc))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        for name, value in {"KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PASSWORD,
                            "PAGEPILOT_CACHE_DIR": str(cache), "PAGEPILOT_BROKER_HEAP": "256m",
                            "PAGEPILOT_BROKER_PORT": str(free_port_pair()), **env}.items():
            patch.setenv(name, value)
        embedded = Settings.from_env()
    try:
        broker.up(embedded, wait_s=90)
        # clients (and the worker) use it as a running cluster: nothing of theirs to start
        yield dataclasses.replace(embedded, bootstrap_servers=embedded.bootstrap)
    finally:
        broker.down(embedded, timeout_s=10)


@pytest.fixture(scope="module")
def sasl_ssl(tmp_path_factory):
    """Settings of clients of a SASL_SSL broker with SCRAM-SHA-256 (user made at format time)."""
    directory = tmp_path_factory.mktemp("sasl-ssl")
    ca, keystore = _tls_files(directory)
    yield from _secured_broker(directory, KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                               KAFKA_SASL_MECHANISM="SCRAM-SHA-256", KAFKA_SSL_CAFILE=str(ca),
                               PAGEPILOT_BROKER_SSL_KEYSTORE=str(keystore))


@pytest.fixture(scope="module")
def sasl_plain(tmp_path_factory):
    """Settings of clients of a SASL_PLAINTEXT broker with PLAIN."""
    yield from _secured_broker(tmp_path_factory.mktemp("sasl-plain"),
                               KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="PLAIN")


_runs = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(base: Settings, tmp_path: Path) -> Settings:
    run_id = f"sec{os.getpid()}-{next(_runs)}"
    return dataclasses.replace(run_config(base, run_id, str(tmp_path / run_id)),
                               web_port=_free_port(), broker_session_timeout_s=10.0)


def _pagepilot(config: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``pagepilot ...`` in a child whose environment carries the settings (credentials too)."""
    env = {**os.environ, **config.to_env()}
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_password_reaches_no_command_line_and_only_owner_readable_files(sasl_ssl):
    status = broker.status(sasl_ssl)
    assert status.answering
    home = Path(sasl_ssl.cache_dir) / "broker"
    pid = int((home / "broker.pid").read_text())
    assert PASSWORD not in " ".join(psutil.Process(pid).cmdline())
    assert not (home / "format.args").exists()
    assert (home / "server.properties").stat().st_mode & 0o077 == 0
    assert PASSWORD not in repr(sasl_ssl) and USER in repr(sasl_ssl)


def test_replay_worker_and_subscriber_work_with_credentials_from_the_environment(
        sasl_ssl, tmp_path):
    config = _run(sasl_ssl, tmp_path)
    admin.ensure_topics(config, config.topic_partitions())
    sample = tmp_path / "clicks.csv"
    write_sample(sample, 20, seed=5, fmt="csv")
    good = len(sample.read_text().splitlines()) - 1  # the header

    replayed = _pagepilot(config, "replay", str(sample), "--format", "csv")
    assert replayed.returncode == 0, replayed.stderr
    assert f"sent {good:,} events" in replayed.stdout
    worker = WorkerProcess(config, tmp_path / "worker.log").start(ready_timeout_s=60)
    try:
        answers = subscribe(follow=True, unique=True, config=config, idle_timeout_s=30)
        recs = list(itertools.islice(answers, good))
    finally:
        worker.stop()
    assert len(recs) == good, worker.log_tail()
    printed = _pagepilot(config, "recommendations", "--session", recs[0].session_id)
    assert printed.returncode == 0 and recs[0].session_id in printed.stdout, printed.stderr
    status = _pagepilot(config, "kafka", "status")
    assert status.returncode == 0 and "answering" in status.stdout, status.stderr

    worker_log = (tmp_path / "worker.log").read_text()
    assert "[^Worker]: Ready" in worker_log
    assert "reading the metrics topic failed" not in worker_log  # monitor's own consumer too
    for output in (worker_log, replayed.stdout, replayed.stderr, printed.stdout, printed.stderr,
                   status.stdout, status.stderr):
        assert PASSWORD not in output


def test_a_wrong_password_fails_at_once_and_says_why(sasl_ssl, tmp_path):
    wrong = dataclasses.replace(_run(sasl_ssl, tmp_path), sasl_password=WRONG)
    started = time.monotonic()

    worker = _pagepilot(wrong, "worker", "--web-port", str(wrong.web_port))
    with pytest.raises(BrokerError, match="invalid credentials") as producing:
        make_producer(wrong)
    with pytest.raises(BrokerError, match="invalid credentials"):
        list(subscribe(config=wrong))

    assert time.monotonic() - started < 30  # no bootstrap timeouts waited out
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert f"refused the SASL_SSL connection as '{USER}' (SCRAM-SHA-256)" in worker.stderr
    assert "invalid credentials" in worker.stderr
    for output in (worker.stdout, worker.stderr, str(producing.value)):
        assert WRONG not in output and PASSWORD not in output


def test_the_broker_certificate_is_checked(sasl_ssl):
    untrusting = dataclasses.replace(sasl_ssl, ssl_cafile="")  # the system's CAs only
    with pytest.raises(BrokerError, match="certificate verify failed"):
        make_producer(untrusting)


def test_sasl_plain_round_trip_and_refusals(sasl_plain):
    topic = f"secured-{uuid.uuid4().hex[:8]}"
    admin.ensure_topics(sasl_plain, {topic: 2})
    producer = make_producer(sasl_plain)
    for n in range(10):
        producer.send(topic, key=f"k{n % 3}".encode(), value=f"v{n}".encode())
    producer.flush(timeout=30)
    producer.close()

    assert sorted(read_topic(topic, config=sasl_plain)) == sorted(f"v{n}".encode() for n in range(10))
    with pytest.raises(BrokerError, match="Invalid username or password") as refused:
        make_producer(dataclasses.replace(sasl_plain, sasl_password=WRONG))
    assert WRONG not in str(refused.value)
    scram = dataclasses.replace(sasl_plain, sasl_mechanism="SCRAM-SHA-512")
    with pytest.raises(BrokerError, match="does not offer SASL mechanism SCRAM-SHA-512"):
        make_producer(scram)
