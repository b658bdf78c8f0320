"""Reconcile what came out of the worker: recommendations by unique event id, dead letters,
duplicates and latency. The demo, the benchmark and the tests all count this way."""

from __future__ import annotations

import json
import threading
import time

import numpy as np

from consumers.subscriber import read_topic
from stream.config import Settings
from stream.core.models import DeadLetter, Recommendation


class OutputFollower:
    """Follows the recommendations and dead-letter topics in background threads, handing each
    message (as JSON) to ``_on_rec`` or ``_on_dead``."""

    def __init__(self, config: Settings):
        self.config = config
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, args=(topic, handle), daemon=True)
                         for topic, handle in ((config.recommendations_topic, self._on_rec),
                                               (config.dead_letter_topic, self._on_dead))]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _follow(self, topic: str, handle) -> None:
        for value in read_topic(topic, config=self.config, follow=True, idle_timeout_s=None,
                                stop=self._stop):
            handle(json.loads(value))

    def _on_rec(self, data: dict) -> None:
        raise NotImplementedError

    def _on_dead(self, data: dict) -> None:
        raise NotImplementedError


class Tally(OutputFollower):
    """Every recommendation by event id (repeats counted), latencies and dead letters."""

    def __init__(self, config: Settings):
        super().__init__(config)
        self.recommendations: dict[str, Recommendation] = {}  # event id -> first answer
        self.duplicates = 0
        self.latencies_ms: list[int] = []
        self.dead_letters: list[DeadLetter] = []
        self.first_publish: int | None = None
        self.last_publish: int | None = None
        self._lock = threading.Lock()

    def wait_for(self, recommended: int, dead: int = 0, timeout_s: float = 300.0,
                 progress=None) -> bool:
        """Wait until this many unique recommendations and dead letters arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if progress:
                progress.update(len(self.recommendations), f"{len(self.dead_letters)} dead letters")
            if len(self.recommendations) >= recommended and len(self.dead_letters) >= dead:
                return True
            time.sleep(0.1)
        return False

    def publish_times(self) -> dict[str, int]:
        """Event id -> publish time (epoch ms) of its first answer: a snapshot, safe to read
        while the followers run."""
        with self._lock:
            return {event_id: rec.publish_time for event_id, rec in self.recommendations.items()}

    def latency_percentiles(self, *qs: float) -> list[float]:
        with self._lock:
            data = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return [float(np.percentile(data, q)) for q in qs]

    @property
    def publish_rate(self) -> float:
        """Unique recommendations per second between the first and the last publish."""
        if not self.first_publish or self.last_publish == self.first_publish:
            return 0.0
        return len(self.recommendations) / ((self.last_publish - self.first_publish) / 1000)

    def _on_rec(self, data: dict) -> None:
        rec = Recommendation.from_data(data)
        with self._lock:
            if rec.event_id in self.recommendations:
                self.duplicates += 1
                return
            self.recommendations[rec.event_id] = rec
            self.latencies_ms.append(rec.publish_time - rec.ingest_time)
            self.first_publish = min(self.first_publish or rec.publish_time, rec.publish_time)
            self.last_publish = max(self.last_publish or 0, rec.publish_time)

    def _on_dead(self, data: dict) -> None:
        with self._lock:
            self.dead_letters.append(DeadLetter.from_data(data))
