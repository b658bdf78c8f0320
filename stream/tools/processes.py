"""Worker processes started by the demo, the benchmark and the integration tests."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stream.config import Settings
from stream.kafka import admin, broker

READY_LINE = "[^Worker]: Ready"


class WorkerProcess:
    """A ``pagepilot worker`` in a child process, its output in ``log_path``."""

    def __init__(self, config: Settings, log_path: Path, app: str = "stream.worker.app",
                 extra_env: dict | None = None):
        self.config, self.log_path, self.app = config, Path(log_path), app
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout_s: float = 120.0) -> "WorkerProcess":
        env = {**os.environ, **self.config.to_env(), **self.extra_env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log_start = self._log.tell()  # a restart appends: only its own lines count
        command = [sys.executable, "-m", "stream.cli", "worker", "--app", self.app,
                   "-l", "info", "--web-port", str(self.config.web_port)]
        self.process = subprocess.Popen(command, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_ready(ready_timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if READY_LINE in self._own_log():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.process.pid, sig)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; return the exit code."""
        if self.process is None:
            return None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def _own_log(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def run_config(base: Settings, run_id: str, data_dir: str) -> Settings:
    """Settings of one isolated run: its own app id, topics and state directory."""
    return dataclasses.replace(
        base, app_id=f"pagepilot-{run_id}", data_dir=data_dir,
        pageviews_topic=f"{run_id}.pageviews", snapshots_topic=f"{run_id}.snapshots",
        recommendations_topic=f"{run_id}.recommendations", outcomes_topic=f"{run_id}.outcomes",
        dead_letter_topic=f"{run_id}.pageviews.dlq", metrics_topic=f"{run_id}.metrics")


@contextlib.contextmanager
def embedded_broker(config: Settings):
    """The broker up for the duration; stopped afterwards only if this started it."""
    started = config.embedded and not broker.status(config).answering
    if started:
        print("starting the embedded Kafka broker ...", flush=True)
    broker.up(config)
    try:
        yield
    finally:
        if started:
            broker.down(config)


@contextlib.contextmanager
def worker_running(config: Settings, log_dir: Path, app: str = "stream.worker.app",
                   extra_env: dict | None = None):
    """This run's topics and one worker; the worker stopped and the topics deleted on exit."""
    admin.ensure_topics(config, config.topic_partitions())
    print(f"starting a worker (log: {log_dir / 'worker.log'}) ...", flush=True)
    worker = WorkerProcess(config, log_dir / "worker.log", app=app, extra_env=extra_env)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
        admin.delete_run_topics(config)


def wait_until_idle(config: Settings, timeout_s: float = 120.0) -> None:
    """Until the worker group has committed every page view."""
    deadline = time.monotonic() + timeout_s
    lag: dict = {}
    while time.monotonic() < deadline:
        lag = admin.consumer_lag(config, [config.pageviews_topic])
        if lag and not any(lag.values()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"worker still behind after {timeout_s:.0f}s: {lag}")
