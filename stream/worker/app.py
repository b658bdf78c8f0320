"""The Faust application. Agents live in :mod:`stream.worker.agents` (found by autodiscovery).

Run a worker with ``pagepilot worker`` or ``faust -A stream.worker.app worker -l info``.
"""

import gc
from pathlib import Path

import faust

from stream.config import settings
from stream.worker.transport import broker_credentials


def create_app(agent_modules: list[str]) -> faust.App:
    """A Faust app configured from the settings, discovering agents in ``agent_modules``."""
    config = settings()
    app = faust.App(
        config.app_id,
        broker=f"pagepilot://{config.bootstrap}",  # Kafka, see stream/worker/transport.py
        broker_credentials=broker_credentials(config),  # SSL / SASL from the settings
        store="rocksdb://",  # RocksDB through rocksdict
        datadir=str(Path(config.data_dir) / config.app_id),
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=10,  # batch sends: fewer, larger produce requests for the broker
        # Commit often: after a crash, what was answered after the last commit is answered
        # again (readers drop repeats by event id), so this bounds the repeats of a crash.
        broker_commit_interval=1.0,
        broker_session_timeout=config.broker_session_timeout_s,
        web_bind=config.web_host,  # the address listened on (Faust's default: 0.0.0.0)
        web_host=config.web_host,  # the host name in the worker's own URL
        web_port=config.web_port,
        autodiscover=agent_modules,
        origin="stream",
    )
    app.task(_freeze_startup_objects)
    return app


async def _freeze_startup_objects() -> None:
    """Leave what the worker loaded at start (modules, classes, Faust's services: about
    220,000 objects) out of every later garbage collection: a full collection then scans
    only what the stream made, instead of pausing the event loop for 70-100 ms each time."""
    gc.collect()
    gc.freeze()


app = create_app(["stream.worker.agents", "stream.worker.monitor", "stream.worker.stalls",
                  "stream.worker.views"])
