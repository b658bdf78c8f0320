"""The command line turns errors a user can fix into one line and exit code 2."""

from unittest.mock import patch

from kafka.errors import KafkaTimeoutError

from stream import cli


def test_an_unreachable_broker_is_one_line_naming_the_bootstrap_servers(capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with patch("consumers.subscriber.subscribe", side_effect=KafkaTimeoutError("Unable to bootstrap")):
        assert cli.main(["recommendations"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pagepilot recommendations: error: Kafka: KafkaTimeoutError")
    assert "127.0.0.1:1" in err and "Traceback" not in err
