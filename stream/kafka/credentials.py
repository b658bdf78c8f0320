"""Does a Kafka cluster answer, and does it take our credentials?

:func:`wait_until_answers` waits for a cluster's admin API to answer with a live broker;
:func:`check_credentials` says at once why a cluster refuses our TLS or SASL settings, where
kafka-python would only time out. The clients (replay, subscriber) use this module alone of
:mod:`stream.kafka`; :class:`BrokerError` is the error of every module of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Callable

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from stream.config import Settings, settings as current_settings


class BrokerError(RuntimeError):
    """The broker could not be fetched, started, reached or stopped; the message says why."""


def answers(bootstrap: str, timeout_s: float, cfg: Settings) -> bool:
    """True when the cluster's admin API answers with a live (unfenced) broker.

    Raises :class:`BrokerError` when it refuses our TLS or SASL credentials: waiting cannot help.
    """
    timeout_ms = max(int(timeout_s * 1000), 500)
    options = {**cfg.kafka_options(), "bootstrap_servers": bootstrap}
    try:
        admin = KafkaAdminClient(**options, bootstrap_timeout_ms=timeout_ms,
                                 request_timeout_ms=timeout_ms, client_id="pagepilot-probe")
    except (KafkaError, OSError):
        check_credentials(dataclasses.replace(cfg, bootstrap_servers=bootstrap), timeout_s)
        return False
    try:
        cluster = admin.describe_cluster()
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
    brokers = cluster.get("brokers") or []
    return any(not broker.get("is_fenced", False) for broker in brokers)


def check_credentials(cfg: Settings, timeout_s: float = 10.0) -> None:
    """Raise :class:`BrokerError` at once when the cluster refuses our TLS or SASL credentials.

    kafka-python retries a refused login until its bootstrap times out, then says only that it
    could not bootstrap; one aiokafka connection tells why. Nothing to check for PLAINTEXT, and
    a cluster that does not answer at all is not a question of credentials (no error).
    """
    if cfg.security_protocol == "PLAINTEXT":
        return
    reason = asyncio.run(_refusal(cfg, timeout_s))
    if reason:
        user = f" as {cfg.sasl_username!r} ({cfg.sasl_mechanism})" if cfg.uses_sasl else ""
        raise BrokerError(f"{cfg.bootstrap} refused the {cfg.security_protocol} connection"
                          f"{user}: {reason}; check the KAFKA_SASL_* and KAFKA_SSL_* settings")


async def _refusal(cfg: Settings, timeout_s: float) -> str | None:
    """Why the first bootstrap server that answers refuses us; None if none refuses."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import (KafkaError as AIOKafkaError, SaslAuthenticationFailed,
                                 UnsupportedSaslMechanismError)

    options = cfg.kafka_options()
    del options["bootstrap_servers"]
    for server in cfg.bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(create_conn(host.strip("[]"), int(port), **options),
                                          timeout_s)
        except SaslAuthenticationFailed as exc:
            return str(exc) or "authentication failed"
        except UnsupportedSaslMechanismError:
            return f"the broker does not offer SASL mechanism {cfg.sasl_mechanism}"
        except ssl.SSLError as exc:
            return f"TLS failed: {exc}"
        except (OSError, AIOKafkaError, asyncio.TimeoutError, ValueError):
            continue  # not answering (yet): not a question of credentials
        conn.close()
        return None
    return None


def wait_until_answers(bootstrap: str, timeout_s: float,
                       alive: Callable[[], bool] | None = None,
                       cfg: Settings | None = None) -> float:
    """Wait until the cluster at ``bootstrap`` answers; return the seconds it took.

    Connects with the security settings of ``cfg`` (default: the current settings). Raises
    :class:`BrokerError` after ``timeout_s``, as soon as ``alive()`` turns False, or when the
    cluster refuses the credentials.
    """
    cfg = cfg or current_settings()
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if alive is not None and not alive():
            raise BrokerError(f"the broker process exited before {bootstrap} answered")
        if answers(bootstrap, min(1.0, max(deadline - time.monotonic(), 0.5)), cfg):
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise BrokerError(f"{bootstrap} did not answer within {timeout_s:.0f} s")
        time.sleep(0.25)
