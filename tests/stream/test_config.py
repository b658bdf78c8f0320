import dataclasses
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
