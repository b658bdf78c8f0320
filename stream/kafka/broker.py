"""The embedded default broker: a real Apache Kafka, fetched with Maven, run on loopback.

When ``KAFKA_BOOTSTRAP_SERVERS`` is set nothing is started: the functions here only check that
the cluster answers. Otherwise Apache Kafka (``org.apache.kafka:kafka_2.13``) and its
dependencies are fetched once from Maven Central into ``<cache_dir>/kafka-<version>/lib``, a
single-node KRaft log dir is formatted once under ``<cache_dir>/broker/``, and the broker runs
as a detached JVM (its own session, so Ctrl-C in the shell that started it does not stop it).
Readiness is decided by asking the admin API, never by reading logs.

Only a process that is recorded in our pid file (or listens on our port) *and* whose command
line is ``kafka.Kafka <our server.properties>`` is ever stopped.

With ``KAFKA_SECURITY_PROTOCOL`` other than PLAINTEXT the broker's client listener speaks that
protocol, with one SASL user: the configured client's own (a SCRAM user is added when the log
dir is formatted); TLS is served with ``PAGEPILOT_BROKER_SSL_KEYSTORE``. Files that hold
credentials are readable by their owner only; no credential is put on a command line.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil

from stream.config import Settings, settings as current_settings
from stream.kafka.credentials import BrokerError, answers, wait_until_answers

log = logging.getLogger(__name__)

LOG4J_SLF4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"


@dataclasses.dataclass(frozen=True)
class BrokerStatus:
    """What is known about the broker PagePilot talks to."""

    bootstrap: str
    embedded: bool
    running: bool
    answering: bool
    pid: int | None = None
    log_path: Path | None = None
    data_dir: Path | None = None
    started: bool = False  # True when this very call started the JVM
    startup_s: float | None = None

    def describe(self) -> str:
        """One short human line."""
        if not self.embedded:
            state = "answering" if self.answering else "NOT answering"
            return f"external cluster {self.bootstrap}: {state}"
        if not self.running:
            return f"embedded broker: not running (data {self.data_dir})"
        state = "answering" if self.answering else "not answering yet"
        return f"embedded broker: running, pid {self.pid}, {self.bootstrap}, {state} (log {self.log_path})"


# --------------------------------------------------------------------------- paths


@dataclasses.dataclass(frozen=True)
class BrokerPaths:
    """Where the embedded broker of a configuration keeps its jars, data, config and logs."""

    jars: Path
    home: Path

    @classmethod
    def of(cls, cfg: Settings) -> "BrokerPaths":
        cache = Path(cfg.cache_dir).expanduser()
        return cls(jars=cache / f"kafka-{cfg.kafka_version}", home=cache / "broker")

    lib = property(lambda self: self.jars / "lib")
    jars_marker = property(lambda self: self.jars / ".complete")
    data = property(lambda self: self.home / "data")
    server_properties = property(lambda self: self.home / "server.properties")
    format_args = property(lambda self: self.home / "format.args")
    log4j = property(lambda self: self.home / "log4j2.properties")
    cluster_id = property(lambda self: self.home / "cluster-id")
    pid_file = property(lambda self: self.home / "broker.pid")
    broker_log = property(lambda self: self.home / "broker.log")
    stdout_log = property(lambda self: self.home / "stdout.log")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise fetch/start between processes (two `up` at once start one broker)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- jars


def _pom(cfg: Settings) -> str:
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pagepilot</groupId>
  <artifactId>embedded-kafka</artifactId>
  <version>{cfg.kafka_version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{cfg.kafka_version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
    <version>{DEPENDENCY_PLUGIN_VERSION}</version>
  </plugin></plugins></build>
</project>
"""


def jars_ready(cfg: Settings) -> bool:
    """True when the Kafka jars of ``cfg.kafka_version`` are completely in the cache."""
    paths = BrokerPaths.of(cfg)
    return paths.jars_marker.exists() and any(paths.lib.glob("kafka_2.13-*.jar"))


def _require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BrokerError(f"`{name}` not found on PATH: {hint}")
    return found


def ensure_jars(cfg: Settings) -> Path:
    """Fetch Apache Kafka and its dependencies with Maven once; return the lib directory."""
    paths = BrokerPaths.of(cfg)
    if jars_ready(cfg):
        return paths.lib
    mvn = _require_tool("mvn", "install Maven (and Java 17+) to run the embedded Kafka broker, "
                               "or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster")
    _require_tool("java", "install Java 17+ to run the embedded Kafka broker")
    with _locked(paths.jars):
        if jars_ready(cfg):  # another process finished while we waited
            return paths.lib
        shutil.rmtree(paths.lib, ignore_errors=True)
        (paths.jars / "pom.xml").write_text(_pom(cfg))
        command = [mvn, "-B", "-q", "dependency:copy-dependencies",
                   "-DoutputDirectory=lib", "-DincludeScope=runtime"]
        done = subprocess.run(command, cwd=paths.jars, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrokerError(f"Maven could not fetch Apache Kafka {cfg.kafka_version} "
                              f"(exit {done.returncode}):\n{_tail(done.stdout + done.stderr)}")
        count = len(list(paths.lib.glob("*.jar")))
        paths.jars_marker.write_text(f"{count} jars\n")
    return paths.lib


# --------------------------------------------------------------------------- config files


def _server_properties(cfg: Settings, paths: BrokerPaths) -> str:
    port, controller = cfg.broker_port, cfg.broker_port + 1
    listener = cfg.security_protocol  # the client listener is named after its protocol
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners={listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners={listener}://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        f"listener.security.protocol.map={listener}:{listener},CONTROLLER:PLAINTEXT",
        f"inter.broker.listener.name={listener}",
        *_security_properties(cfg),
        f"log.dirs={paths.data}",
        f"num.partitions={cfg.partitions}",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "",
    ])


def _security_properties(cfg: Settings) -> list[str]:
    """SASL (the one user is the client's own) and TLS of the client listener; none for PLAINTEXT.

    The broker also talks to itself on this listener, so it logs in as that user and trusts
    ``KAFKA_SSL_CAFILE`` (the certificate must name 127.0.0.1).
    """
    lines = []
    if cfg.uses_sasl:
        mechanism = cfg.sasl_mechanism
        login = f"username={_jaas(_embedded_user(cfg))} password={_jaas(cfg.sasl_password)}"
        if mechanism == "PLAIN":  # PLAIN users are listed here; SCRAM users live in the metadata
            login = (f"org.apache.kafka.common.security.plain.PlainLoginModule required {login} "
                     f"user_{cfg.sasl_username}={_jaas(cfg.sasl_password)};")
        else:
            login = f"org.apache.kafka.common.security.scram.ScramLoginModule required {login};"
        lines += [f"sasl.enabled.mechanisms={mechanism}",
                  f"sasl.mechanism.inter.broker.protocol={mechanism}",
                  f"listener.name.{cfg.security_protocol.lower()}.{mechanism.lower()}"
                  f".sasl.jaas.config={login}"]
    if cfg.uses_tls:
        if not cfg.broker_ssl_keystore:
            raise BrokerError(f"KAFKA_SECURITY_PROTOCOL={cfg.security_protocol} needs "
                              "PAGEPILOT_BROKER_SSL_KEYSTORE (a PEM file with the embedded "
                              "broker's private key and certificate chain)")
        lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={cfg.broker_ssl_keystore}"]
        if cfg.ssl_cafile:
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={cfg.ssl_cafile}"]
    return lines


def _embedded_user(cfg: Settings) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", cfg.sasl_username):
        raise BrokerError("the embedded broker takes SASL user names of letters, digits, "
                          "'.', '_' and '-' only")
    if not all(" " <= char <= "~" for char in cfg.sasl_password):
        raise BrokerError("the embedded broker takes printable-ASCII SASL passwords only")
    return cfg.sasl_username


def _jaas(value: str) -> str:
    """``value`` as a quoted JAAS option inside a .properties file (both unescape backslashes)."""
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return quoted.replace("\\", "\\\\")


def _scram_credential(cfg: Settings, iterations: int = 8192) -> str:
    """The ``--add-scram`` value of the configured user: salted, so no password in it."""
    salt = os.urandom(16)
    digest = cfg.sasl_mechanism.removeprefix("SCRAM-").replace("-", "").lower()  # sha256
    salted = hashlib.pbkdf2_hmac(digest, cfg.sasl_password.encode(), salt, iterations)
    salt_b64, salted_b64 = (base64.b64encode(raw).decode() for raw in (salt, salted))
    return (f"{cfg.sasl_mechanism}=[name={_embedded_user(cfg)},iterations={iterations},"
            f'salt="{salt_b64}",saltedpassword="{salted_b64}"]')


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold credentials)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def _log4j_properties(paths: BrokerPaths) -> str:
    return "\n".join([
        "status = warn",
        "appender.file.type = RollingFile",
        "appender.file.name = file",
        f"appender.file.fileName = {paths.broker_log}",
        f"appender.file.filePattern = {paths.broker_log}.%i",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "appender.file.policies.type = Policies",
        "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size = 10MB",
        "appender.file.strategy.type = DefaultRolloverStrategy",
        "appender.file.strategy.max = 2",
        "rootLogger.level = WARN",
        "rootLogger.appenderRef.file.ref = file",
        "logger.started.name = kafka.server.KafkaRaftServer",
        "logger.started.level = INFO",
        "logger.state.name = state.change.logger",
        "logger.state.level = ERROR",
        "",
    ])


def _cluster_id(paths: BrokerPaths) -> str:
    """The persisted cluster id (a Kafka Uuid: 16 random bytes, base64url, no padding)."""
    if paths.cluster_id.exists():
        return paths.cluster_id.read_text().strip()
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    paths.cluster_id.write_text(cluster_id + "\n")
    return cluster_id


def _format_once(cfg: Settings, paths: BrokerPaths) -> None:
    if (paths.data / "meta.properties").exists():
        return
    arguments = ["kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id(paths)}",
                 "-c", str(paths.server_properties)]
    if cfg.uses_sasl and cfg.sasl_mechanism.startswith("SCRAM-"):
        arguments += ["--add-scram", _scram_credential(cfg)]
    # a java @file, so the credential is not on a command line; one quoted argument a line
    _write_private(paths.format_args, "".join(f"'{argument}'\n" for argument in arguments))
    try:
        command = ["java", "-cp", f"{paths.lib}/*", f"@{paths.format_args}"]
        done = subprocess.run(command, capture_output=True, text=True)
    finally:
        paths.format_args.unlink(missing_ok=True)
    if done.returncode != 0:
        raise BrokerError(f"formatting the KRaft log dir {paths.data} failed:\n"
                          f"{_tail(done.stdout + done.stderr)}")


# --------------------------------------------------------------------------- processes


def _is_our_broker(pid: int, paths: BrokerPaths) -> bool:
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        alive = proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return alive and "kafka.Kafka" in cmdline and str(paths.server_properties) in cmdline


def _listener_pid(port: int) -> int | None:
    """Pid of the process listening on a loopback TCP port (None if unknown or free)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_pid(paths: BrokerPaths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _our_pid(cfg: Settings, paths: BrokerPaths) -> int | None:
    """Pid of our running broker: from the pid file, or (pid file lost) the port's owner."""
    for pid in (_read_pid(paths), _listener_pid(cfg.broker_port)):
        if pid and _is_our_broker(pid, paths):
            return pid
    return None


def _check_ports_free(cfg: Settings) -> None:
    for port in (cfg.broker_port, cfg.broker_port + 1):
        if _port_in_use(port):
            owner = _listener_pid(port)
            who = f"pid {owner} ({_short_cmdline(owner)})" if owner else "another process"
            raise BrokerError(f"port {port} is taken by {who}, which is not PagePilot's broker; "
                              "stop it, or set PAGEPILOT_BROKER_PORT, or point "
                              "KAFKA_BOOTSTRAP_SERVERS at a running cluster")


def _short_cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        return "unknown"


def _java_command(cfg: Settings, paths: BrokerPaths) -> list[str]:
    return ["java", f"-Xmx{cfg.broker_heap}", f"-Xms{cfg.broker_heap}",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={paths.log4j}",
            "-cp", f"{paths.lib}/*", "kafka.Kafka", str(paths.server_properties)]


def _spawn(cfg: Settings, paths: BrokerPaths) -> subprocess.Popen:
    if paths.broker_log.exists():  # so a failure shows this run's log only
        paths.broker_log.replace(paths.broker_log.with_suffix(".log.previous"))
    with open(paths.stdout_log, "wb") as out:
        proc = subprocess.Popen(_java_command(cfg, paths), cwd=paths.home, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    paths.pid_file.write_text(f"{proc.pid}\n")
    return proc


def _tail(text: str, lines: int = 25) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Maven colours even with -B on some distros
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


def _log_tail(paths: BrokerPaths) -> str:
    parts = []
    for path in (paths.stdout_log, paths.broker_log):
        if path.exists() and path.stat().st_size:
            parts.append(f"--- {path}\n{_tail(path.read_text(errors='replace'))}")
    return "\n".join(parts) or "(the broker wrote no log)"


# --------------------------------------------------------------------------- lifecycle


def status(cfg: Settings | None = None) -> BrokerStatus:
    """Is the broker running and answering? Starts nothing."""
    cfg = cfg or current_settings()
    if not cfg.embedded:
        return BrokerStatus(cfg.bootstrap, False, True, answers(cfg.bootstrap, 3.0, cfg))
    paths = BrokerPaths.of(cfg)
    pid = _our_pid(cfg, paths)
    answering = pid is not None and answers(cfg.bootstrap, 2.0, cfg)
    return BrokerStatus(cfg.bootstrap, True, pid is not None, answering, pid,
                        paths.broker_log, paths.data)


def up(cfg: Settings | None = None, wait_s: float = 60) -> BrokerStatus:
    """Make sure a broker answers: the external cluster, or our embedded one (started if needed)."""
    cfg = cfg or current_settings()
    if not cfg.embedded:
        wait_until_answers(cfg.bootstrap, wait_s, cfg=cfg)
        return BrokerStatus(cfg.bootstrap, False, True, True)
    paths = BrokerPaths.of(cfg)
    ensure_jars(cfg)
    with _locked(paths.home):
        pid = _our_pid(cfg, paths)
        if pid is not None:
            return _await_running(cfg, paths, pid, wait_s)
        return _start(cfg, paths, wait_s)


def _await_running(cfg: Settings, paths: BrokerPaths, pid: int, wait_s: float) -> BrokerStatus:
    paths.pid_file.write_text(f"{pid}\n")  # re-adopt a broker whose pid file was lost
    try:
        wait_until_answers(cfg.bootstrap, wait_s, alive=lambda: _is_our_broker(pid, paths),
                           cfg=cfg)
    except BrokerError as exc:
        raise BrokerError(f"{exc}\n{_log_tail(paths)}") from None
    return BrokerStatus(cfg.bootstrap, True, True, True, pid, paths.broker_log, paths.data)


def _start(cfg: Settings, paths: BrokerPaths, wait_s: float) -> BrokerStatus:
    _check_ports_free(cfg)
    paths.data.mkdir(parents=True, exist_ok=True)
    _write_private(paths.server_properties, _server_properties(cfg, paths))
    paths.log4j.write_text(_log4j_properties(paths))
    _format_once(cfg, paths)
    proc = _spawn(cfg, paths)
    try:
        took = wait_until_answers(cfg.bootstrap, wait_s, alive=lambda: proc.poll() is None,
                                  cfg=cfg)
    except BrokerError as exc:
        _stop_pid(proc.pid, timeout_s=10)
        paths.pid_file.unlink(missing_ok=True)
        raise BrokerError(f"embedded broker failed to start: {exc}\n{_log_tail(paths)}") from None
    log.info("embedded Kafka broker pid %s answers on %s after %.1f s", proc.pid, cfg.bootstrap, took)
    return BrokerStatus(cfg.bootstrap, True, True, True, proc.pid, paths.broker_log, paths.data,
                        started=True, startup_s=took)


def _stop_pid(pid: int, timeout_s: float) -> None:
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except psutil.TimeoutExpired:
            log.warning("broker pid %s ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
            proc.kill()
            proc.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


def down(cfg: Settings | None = None, timeout_s: float = 30) -> bool:
    """Stop our embedded broker (SIGTERM, SIGKILL after ``timeout_s``); True if one was stopped.

    Only a process whose command line is ``kafka.Kafka`` with our server.properties is touched;
    a pid file naming any other process is treated as stale and removed.
    """
    cfg = cfg or current_settings()
    if not cfg.embedded:
        log.info("KAFKA_BOOTSTRAP_SERVERS is set (%s): nothing of ours to stop", cfg.bootstrap)
        return False
    paths = BrokerPaths.of(cfg)
    with _locked(paths.home):
        pid = _our_pid(cfg, paths)
        if pid is None:
            log.info("embedded broker is not running")
            paths.pid_file.unlink(missing_ok=True)
            return False
        _stop_pid(pid, timeout_s)
        paths.pid_file.unlink(missing_ok=True)
    log.info("embedded broker pid %s stopped", pid)
    return True


def reset(cfg: Settings | None = None) -> None:
    """Stop the embedded broker and delete its data, config and logs (not the jar cache)."""
    cfg = cfg or current_settings()
    if not cfg.embedded:
        raise BrokerError("KAFKA_BOOTSTRAP_SERVERS is set: refusing to reset an external cluster")
    down(cfg)
    shutil.rmtree(BrokerPaths.of(cfg).home, ignore_errors=True)
