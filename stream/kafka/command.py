"""``pagepilot kafka up|down|status|reset|fetch``: the embedded broker from the shell."""

from __future__ import annotations

import sys
from collections.abc import Callable

from stream.config import Settings, settings as current_settings
from stream.kafka.broker import BrokerPaths, down, ensure_jars, jars_ready, reset, status, up
from stream.kafka.credentials import BrokerError


def kafka_command(action: str) -> int:
    """``pagepilot kafka up|down|status|reset|fetch``: short human lines, exit code."""
    handler = _ACTIONS.get(action)
    if handler is None:
        print(f"unknown action {action!r}; use one of {', '.join(_ACTIONS)}", file=sys.stderr)
        return 2
    try:
        return handler(current_settings())
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _cli_fetch(cfg: Settings) -> int:
    if not cfg.embedded:
        print(f"KAFKA_BOOTSTRAP_SERVERS is set ({cfg.bootstrap}): the embedded broker is not needed")
        return 0
    if not jars_ready(cfg):
        print(f"fetching Apache Kafka {cfg.kafka_version} from Maven Central ...", flush=True)
    print(f"Kafka {cfg.kafka_version} jars: {ensure_jars(cfg)}")
    return 0


def _cli_up(cfg: Settings) -> int:
    if cfg.embedded:
        _cli_fetch(cfg)
    result = up(cfg)
    verb = f"started in {result.startup_s:.1f} s" if result.started else "already up"
    print(f"{result.describe()} [{verb}]" if cfg.embedded else result.describe())
    return 0


def _cli_down(cfg: Settings) -> int:
    stopped = down(cfg)
    if not cfg.embedded:
        print(f"external cluster {cfg.bootstrap}: nothing to stop")
    else:
        print("embedded broker stopped" if stopped else "embedded broker was not running")
    return 0


def _cli_status(cfg: Settings) -> int:
    result = status(cfg)
    print(result.describe())
    return 0 if result.answering else 1


def _cli_reset(cfg: Settings) -> int:
    reset(cfg)
    print(f"embedded broker stopped and its data removed ({BrokerPaths.of(cfg).home})")
    return 0


_ACTIONS: dict[str, Callable[[Settings], int]] = {
    "up": _cli_up, "down": _cli_down, "status": _cli_status, "reset": _cli_reset,
    "fetch": _cli_fetch,
}
