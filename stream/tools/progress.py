"""A small progress line for long work: redrawn in place on a terminal, logged every few
seconds otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, stream=sys.stderr,
                 every_s: float | None = None):
        self.label, self.total, self.stream = label, total, stream
        self.tty = stream.isatty()
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 5.0)
        self.started = self._last = time.monotonic()
        self.count, self.note = 0, ""

    def update(self, count: int, note: str = "") -> None:
        self.count, self.note = count, note
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw(now)

    def close(self) -> None:
        if self.count:
            self._draw(time.monotonic())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        rate = self.count / max(now - self.started, 1e-9)
        of = f"/{self.total:,}" if self.total else ""
        line = f"{self.label}: {self.count:,}{of} events, {rate:,.0f}/s"
        if self.total:
            line += f", {100 * self.count / self.total:.0f}%"
        if self.note:
            line += f", {self.note}"
        self.stream.write(("\r" + line.ljust(79)) if self.tty else line + "\n")
        self.stream.flush()
