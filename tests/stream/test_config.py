import dataclasses
import ssl
from pathlib import Path

import pytest

from stream.config import Settings

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [f.metadata["env"] for f in dataclasses.fields(Settings)
               if f"`{f.metadata['env']}`" not in text]
    assert missing == []


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAGEPILOT_TOP_K", "5")
    monkeypatch.setenv("PAGEPILOT_SESSION_TIMEOUT", "60.5")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    config = Settings.from_env()
    assert (config.top_k, config.session_timeout_s, config.bootstrap) == (5, 60.5, "kafka:9092")
    assert not config.embedded


def test_a_bad_value_names_its_variable(monkeypatch):
    monkeypatch.setenv("PAGEPILOT_PARTITIONS", "four")
    with pytest.raises(ValueError, match="PAGEPILOT_PARTITIONS='four'"):
        Settings.from_env()


def test_to_env_round_trips(monkeypatch):
    config = dataclasses.replace(Settings(), top_k=7, app_id="x", session_timeout_s=90.0)
    for name, value in config.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == config


def test_plaintext_is_the_default_and_needs_no_security_options():
    config = Settings()
    assert config.security_protocol == "PLAINTEXT"
    assert config.kafka_options() == {"bootstrap_servers": config.bootstrap,
                                      "security_protocol": "PLAINTEXT"}
    assert config.ssl_context() is None


def test_sasl_ssl_settings_from_the_environment_become_client_options(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "alice")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-value")
    config = Settings.from_env()

    options = config.kafka_options()
    context = options.pop("ssl_context")
    assert options == {"bootstrap_servers": config.bootstrap, "security_protocol": "SASL_SSL",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "alice",
                       "sasl_plain_password": "s3cret-value"}
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "s3cret-value" not in repr(config) and "alice" in repr(config)


def test_faust_gets_the_same_security():
    import faust
    from stream.worker.transport import broker_credentials

    sasl = dataclasses.replace(Settings(), security_protocol="SASL_PLAINTEXT",
                               sasl_mechanism="SCRAM-SHA-256", sasl_username="alice",
                               sasl_password="s3cret-value")
    credentials = broker_credentials(sasl)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value, credentials.username,
            credentials.password, credentials.ssl_context) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-256", "alice", "s3cret-value", None)
    assert "s3cret-value" not in repr(credentials)
    tls = broker_credentials(dataclasses.replace(Settings(), security_protocol="SSL"))
    assert isinstance(tls, faust.SSLCredentials) and tls.protocol.value == "SSL"
    assert broker_credentials(Settings()) is None


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS' is not one of"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "alice",
      "KAFKA_SASL_PASSWORD": "s3cret-value", "KAFKA_SASL_MECHANISM": "MD5"},
     "KAFKA_SASL_MECHANISM='MD5' is not one of"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "s3cret-value"},
     "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_USERNAME": "alice", "KAFKA_SASL_PASSWORD": "s3cret-value"},
     "PLAINTEXT does not use them"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
     "KAFKA_SSL_CAFILE=/no/such/ca.pem: no such file"),
    ({"KAFKA_SSL_CAFILE": __file__}, "PLAINTEXT does not use TLS"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": __file__},
     "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE"),
])
def test_bad_security_settings_are_refused_clearly_without_the_password(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message) as refused:
        Settings.from_env()
    assert "s3cret-value" not in str(refused.value)


def test_the_password_reaches_a_child_process_through_to_env(monkeypatch):
    config = dataclasses.replace(Settings(), security_protocol="SASL_PLAINTEXT",
                                 sasl_username="alice", sasl_password="s3cret-value")
    for name, value in config.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == config


def test_the_web_server_binds_to_loopback_unless_configured_otherwise(monkeypatch):
    monkeypatch.delenv("PAGEPILOT_WEB_HOST", raising=False)
    assert Settings.from_env().web_host == "127.0.0.1"
    monkeypatch.setenv("PAGEPILOT_WEB_HOST", "0.0.0.0")
    assert Settings.from_env().web_host == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "192.0.2.7"])
def test_the_worker_listens_on_the_configured_host_not_faust_default(monkeypatch, host):
    import stream.worker.app

    monkeypatch.delenv("WEB_BIND", raising=False)  # Faust's own variable would win
    config = dataclasses.replace(Settings(), web_host=host)
    monkeypatch.setattr(stream.worker.app, "settings", lambda: config)
    app = stream.worker.app.create_app([])
    assert (app.conf.web_bind, app.conf.web_host) == (host, host)  # Faust binds 0.0.0.0 by default


def test_the_experiment_is_the_default_policy_exploring_unless_a_file_names_variants(
        monkeypatch, tmp_path):
    default = Settings().experiments()
    assert [(v.name, v.policy, v.epsilon) for v in default.variants] == [("default", "gain",
                                                                          0.05)]
    path = tmp_path / "experiment.toml"
    path.write_text('[[variant]]\nname = "a"\nshare = 0.5\n[[variant]]\nname = "b"\n'
                    'share = 0.5\npolicy = "relevance"\n')
    monkeypatch.setenv("PAGEPILOT_EXPERIMENT", str(path))
    assert [v.name for v in Settings.from_env().experiments().served] == ["a", "b"]
    with pytest.raises(ValueError, match=r"PAGEPILOT_EXPLORATION must be in \[0, 1\], got 2"):
        Settings(exploration=2.0).experiments()
