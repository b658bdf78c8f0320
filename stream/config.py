"""All configuration of PagePilot, read once from the environment.

Every setting has a documented default; README's configuration table lists the same
variables (a unit test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

from stream.core.clusters import DEFAULT_RULES, MAX_CLUSTERS, PageClusterer

DEFAULT_MODEL = "mixture"  # the next-page model (stream.core.learning.nextpage.MODELS)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Typed settings; each field names its environment variable in ``metadata``."""

    bootstrap_servers: str = dataclasses.field(
        default="", metadata={"env": "KAFKA_BOOTSTRAP_SERVERS",
                              "doc": "Kafka cluster to use; empty = the embedded broker"})
    app_id: str = dataclasses.field(
        default="pagepilot", metadata={"env": "PAGEPILOT_APP_ID",
                                       "doc": "Faust app id (consumer group, folder of the checkpoints)"})
    pageviews_topic: str = dataclasses.field(
        default="pageviews", metadata={"env": "PAGEPILOT_PAGEVIEWS_TOPIC", "doc": "input topic"})
    snapshots_topic: str = dataclasses.field(
        default="pagepilot-snapshots",
        metadata={"env": "PAGEPILOT_SNAPSHOTS_TOPIC",
                  "doc": "compacted topic of each shard's learned counts, which every "
                         "worker follows and serves from (1 partition)"})
    recommendations_topic: str = dataclasses.field(
        default="recommendations", metadata={"env": "PAGEPILOT_RECOMMENDATIONS_TOPIC",
                                             "doc": "output topic (key: session id)"})
    outcomes_topic: str = dataclasses.field(
        default="outcomes", metadata={"env": "PAGEPILOT_OUTCOMES_TOPIC",
                                      "doc": "what followed each served recommendation, "
                                             "one message per ended session (key: session id)"})
    dead_letter_topic: str = dataclasses.field(
        default="pageviews.dlq", metadata={"env": "PAGEPILOT_DEAD_LETTER_TOPIC",
                                           "doc": "rejected input, raw bytes and reason"})
    metrics_topic: str = dataclasses.field(
        default="pagepilot-metrics", metadata={"env": "PAGEPILOT_METRICS_TOPIC",
                                               "doc": "each worker's metrics every second "
                                                      "(1 partition, kept 1 hour)"})
    partitions: int = dataclasses.field(
        default=4, metadata={"env": "PAGEPILOT_PARTITIONS",
                             "doc": "partitions of every topic PagePilot creates"})
    session_timeout_s: float = dataclasses.field(
        default=1800.0, metadata={"env": "PAGEPILOT_SESSION_TIMEOUT",
                                  "doc": "inactivity (event time, seconds) that ends a session"})
    top_k: int = dataclasses.field(
        default=3, metadata={"env": "PAGEPILOT_TOP_K", "doc": "clusters per recommendation"})
    cold_start_min: int = dataclasses.field(
        default=20, metadata={"env": "PAGEPILOT_COLD_START_MIN",
                              "doc": "samples a cluster's model needs before it is used "
                                     "(else Markov counts, else popularity); also the visits "
                                     "at which a Q-value is trusted half"})
    model: str = dataclasses.field(
        default=DEFAULT_MODEL, metadata={"env": "PAGEPILOT_MODEL",
                                         "doc": "next-page model: mixture (sequence experts), "
                                                "or one River classifier per cluster: "
                                                "hoeffding, softmax, naive_bayes, adaptive_tree"})
    gamma: float = dataclasses.field(
        default=0.9, metadata={"env": "PAGEPILOT_GAMMA", "doc": "Q-learning discount"})
    q_omega: float = dataclasses.field(
        default=0.7, metadata={"env": "PAGEPILOT_Q_OMEGA",
                               "doc": "Q-learning rate exponent: alpha = visits ** -omega"})
    candidates: int = dataclasses.field(
        default=6, metadata={"env": "PAGEPILOT_CANDIDATES",
                             "doc": "most likely next clusters the policy ranks by expected gain"})
    max_event_bytes: int = dataclasses.field(
        default=16384, metadata={"env": "PAGEPILOT_MAX_EVENT_BYTES",
                                 "doc": "larger input messages are dead-lettered"})
    exploration: float = dataclasses.field(
        default=0.05, metadata={"env": "PAGEPILOT_EXPLORATION",
                                "doc": "share of page views whose list the default policy "
                                       "draws at random from its candidates (each item "
                                       "then carries its propensity); 0 never explores"})
    experiment: str = dataclasses.field(
        default="", metadata={"env": "PAGEPILOT_EXPERIMENT",
                              "doc": "TOML file of policy variants served to shares of "
                                     "sessions or in the shadow (docs/experiments.md); "
                                     "empty: the default policy for every session"})
    experiment_window_s: float = dataclasses.field(
        default=600.0, metadata={"env": "PAGEPILOT_EXPERIMENT_WINDOW",
                                 "doc": "seconds of outcomes in the experiment's sliding-"
                                        "window figures (beside their totals)"})
    cluster_rules: str = dataclasses.field(
        default=str(DEFAULT_RULES),
        metadata={"env": "PAGEPILOT_CLUSTER_RULES",
                  "doc": "TOML file of page-cluster rules (default: bundled GStore rules)"})
    max_clusters: int = dataclasses.field(
        default=MAX_CLUSTERS,
        metadata={"env": "PAGEPILOT_MAX_CLUSTERS",
                  "doc": "distinct page clusters, 'other' included; once rules that name "
                         "clusters after pages (captures, per_page) reached it, new pages "
                         "are 'other'"})
    data_dir: str = dataclasses.field(
        default=str(Path.home() / ".local/share/pagepilot"),
        metadata={"env": "PAGEPILOT_DATA_DIR", "doc": "worker state (RocksDB tables)"})
    cache_dir: str = dataclasses.field(
        default=str(Path.home() / ".cache/pagepilot"),
        metadata={"env": "PAGEPILOT_CACHE_DIR",
                  "doc": "Kafka jars, embedded broker's log dir, pid and log file"})
    kafka_version: str = dataclasses.field(
        default="4.1.1", metadata={"env": "PAGEPILOT_KAFKA_VERSION",
                                   "doc": "Apache Kafka release of the embedded broker"})
    broker_port: int = dataclasses.field(
        default=19092, metadata={"env": "PAGEPILOT_BROKER_PORT",
                                 "doc": "embedded broker port (controller: port + 1)"})
    broker_heap: str = dataclasses.field(
        default="512m", metadata={"env": "PAGEPILOT_BROKER_HEAP",
                                  "doc": "embedded broker JVM heap (-Xmx)"})
    web_host: str = dataclasses.field(
        default="127.0.0.1", metadata={"env": "PAGEPILOT_WEB_HOST",
                                       "doc": "worker web server bind address"})
    web_port: int = dataclasses.field(
        default=6066, metadata={"env": "PAGEPILOT_WEB_PORT", "doc": "worker web server port"})
    broker_session_timeout_s: float = dataclasses.field(
        default=30.0, metadata={"env": "PAGEPILOT_GROUP_SESSION_TIMEOUT",
                                "doc": "consumer-group session timeout of the worker (seconds)"})
    checkpoint_interval_s: float = dataclasses.field(
        default=30.0, metadata={"env": "PAGEPILOT_CHECKPOINT_INTERVAL",
                               "doc": "seconds between two local checkpoints of a shard "
                                      "(after a crash, about this much is learned again "
                                      "from the pageviews topic)"})
    table_memory_mb: int = dataclasses.field(
        default=16, metadata={"env": "PAGEPILOT_TABLE_MEMORY_MB",
                              "doc": "RocksDB memory of the shards' checkpoint store: "
                                     "write buffers and block cache (MiB)"})
    security_protocol: str = dataclasses.field(
        default="PLAINTEXT", metadata={"env": "KAFKA_SECURITY_PROTOCOL",
                                       "doc": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"})
    sasl_mechanism: str = dataclasses.field(
        default="PLAIN", metadata={"env": "KAFKA_SASL_MECHANISM",
                                   "doc": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* only)"})
    sasl_username: str = dataclasses.field(
        default="", metadata={"env": "KAFKA_SASL_USERNAME", "doc": "SASL user (SASL_* only)"})
    sasl_password: str = dataclasses.field(
        default="", repr=False, metadata={"env": "KAFKA_SASL_PASSWORD", "secret": True,
                                          "doc": "SASL password; never printed"})
    ssl_cafile: str = dataclasses.field(
        default="", metadata={"env": "KAFKA_SSL_CAFILE",
                              "doc": "PEM CA bundle the broker's certificate is checked "
                                     "against; empty = the system's CAs (SSL, SASL_SSL)"})
    ssl_certfile: str = dataclasses.field(
        default="", metadata={"env": "KAFKA_SSL_CERTFILE",
                              "doc": "PEM client certificate, for brokers that require one"})
    ssl_keyfile: str = dataclasses.field(
        default="", metadata={"env": "KAFKA_SSL_KEYFILE",
                              "doc": "PEM private key of the client certificate "
                                     "(empty = in KAFKA_SSL_CERTFILE)"})
    broker_ssl_keystore: str = dataclasses.field(
        default="", metadata={"env": "PAGEPILOT_BROKER_SSL_KEYSTORE",
                              "doc": "PEM key and certificate chain the embedded broker serves "
                                     "TLS with (SSL, SASL_SSL)"})

    def __post_init__(self):
        problems = list(_security_problems(self))
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_env(cls) -> "Settings":
        values = {}
        for field in dataclasses.fields(cls):
            raw = os.environ.get(field.metadata["env"])
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = _cast(field, raw)
            except ValueError:
                shown = "<hidden>" if field.metadata.get("secret") else repr(raw)
                raise ValueError(f"{field.metadata['env']}={shown} is not a valid {field.type}") from None
        return cls(**values)

    def learning(self):
        """The hyperparameters of learning and of the policy (a LearningConfig)."""
        from stream.core.learning.cluster import LearningConfig  # keeps River out of light commands
        return LearningConfig(model=self.model, gamma=self.gamma, omega=self.q_omega,
                              top_k=self.top_k, candidates=self.candidates,
                              cold_start_min=self.cold_start_min)

    def experiments(self):
        """The variants that run (an Experiment): those of ``experiment``, or the default
        policy alone, exploring at ``exploration``."""
        from stream.core.experiments import Experiment
        if not 0.0 <= self.exploration <= 1.0:
            raise ValueError(f"PAGEPILOT_EXPLORATION must be in [0, 1], got {self.exploration}")
        if self.experiment:
            return Experiment.from_toml(self.experiment)
        return Experiment.single(self.exploration)

    def clusterer(self) -> PageClusterer:
        """The page clusterer of ``cluster_rules``, within ``max_clusters``."""
        return PageClusterer.from_file(self.cluster_rules, self.max_clusters)

    def table_store_options(self) -> dict:
        """RocksDB options of the checkpoint store, within ``table_memory_mb``: two write
        buffers of a quarter and a block cache of half (RocksDB's defaults allow 64 MiB
        buffers)."""
        mib = 1024 * 1024
        buffer = max(1, self.table_memory_mb // 4) * mib
        return {"write_buffer_size": buffer, "max_write_buffer_number": 2,
                "target_file_size_base": buffer,
                "block_cache_size": max(1, self.table_memory_mb // 2) * mib}

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for a child process such as a worker."""
        return {field.metadata["env"]: str(getattr(self, field.name))
                for field in dataclasses.fields(self)}

    @property
    def embedded(self) -> bool:
        """True when no external cluster is configured, so the embedded broker is used."""
        return not self.bootstrap_servers

    def topic_partitions(self) -> dict[str, int]:
        """Every topic the stream reads or writes, with its partition count, to create up front."""
        names = (self.pageviews_topic, self.recommendations_topic, self.outcomes_topic,
                 self.dead_letter_topic)
        return ({name: self.partitions for name in names}
                | {self.metrics_topic: 1, self.snapshots_topic: 1})

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Kafka topic configs of the topics that need other than the cluster's defaults."""
        hour_ms, ten_minutes_ms = "3600000", "600000"  # metrics are live figures, not history
        return {self.metrics_topic: {"retention.ms": hour_ms, "segment.ms": ten_minutes_ms},
                # the latest snapshot of each shard and cluster is all anyone reads
                self.snapshots_topic: {"cleanup.policy": "compact",
                                       "segment.ms": ten_minutes_ms}}

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers every client connects to."""
        return self.bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def kafka_options(self) -> dict:
        """Connection and security options of every Kafka client, as keyword arguments.

        kafka-python (``KafkaProducer``, ``KafkaConsumer``, ``KafkaAdminClient``) and aiokafka
        (``AIOKafkaConsumer``, ...) take the same names; the worker's Faust app gets the same
        through :func:`stream.worker.transport.broker_credentials`. Holds the password: never
        log it.
        """
        options = {"bootstrap_servers": self.bootstrap,
                   "security_protocol": self.security_protocol}
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS of every client (None without): the broker's certificate and host name are
        checked against ``ssl_cafile`` (else the system's CAs); ``ssl_certfile`` is shown if set."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None)
        return context


def _security_problems(config: Settings) -> Iterator[str]:
    """What is wrong with the Kafka security settings, one clear sentence each (no secrets)."""
    protocol, mechanism = config.security_protocol, config.sasl_mechanism
    if protocol not in SECURITY_PROTOCOLS:
        yield f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
    if mechanism not in SASL_MECHANISMS:
        yield f"KAFKA_SASL_MECHANISM={mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
    if config.uses_sasl and not (config.sasl_username and config.sasl_password):
        yield (f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and "
               "KAFKA_SASL_PASSWORD")
    if not config.uses_sasl and (config.sasl_username or config.sasl_password):
        yield (f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SECURITY_PROTOCOL="
               f"{protocol} does not use them (SASL_PLAINTEXT or SASL_SSL does)")
    files = {"KAFKA_SSL_CAFILE": config.ssl_cafile, "KAFKA_SSL_CERTFILE": config.ssl_certfile,
             "KAFKA_SSL_KEYFILE": config.ssl_keyfile,
             "PAGEPILOT_BROKER_SSL_KEYSTORE": config.broker_ssl_keystore}
    for name, path in files.items():
        if path and not config.uses_tls:
            yield (f"{name} is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                   "(SSL or SASL_SSL does)")
        elif path and not Path(path).is_file():
            yield f"{name}={path}: no such file"
    if config.ssl_keyfile and not config.ssl_certfile:
        yield "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE"


def _cast(field: dataclasses.Field, raw: str):
    caster = {"int": int, "float": float, "str": str}[field.type]
    return caster(raw)


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (read from the environment on first use)."""
    return Settings.from_env()
