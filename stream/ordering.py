"""Publishing each session's recommendations in the order of its page views.

The page views of one session are answered on the partitions of their page clusters, so
their answers can arrive out of order (and more so while workers join or leave). They go
through one more hop keyed by session, which publishes them by ``sequence`` (1, 2, ...):
an answer that comes early is held until the ones before it are published.

An answer delivered again (Faust is at-least-once) is published again: a reader drops it by
event id, and the first copy of every answer is in order. A step that failed sends a
*failed* answer in its place: it takes its turn and publishes nothing. An answer missing for
longer than ``hold_ms`` is given up, as a last resort: what is held goes out in order. A
session's order is forgotten when it has not moved for ``ttl_ms`` of wall-clock time;
answers on different partitions are too far apart in event time to judge that by the
stream's clock.

>>> order, out = release(None, {"sequence": 2, "event_time": 20}, now_ms=0, timeout_ms=100)
>>> out, order.next
([], 1)
>>> order, out = release(order, {"sequence": 1, "event_time": 10}, now_ms=0, timeout_ms=100)
>>> [rec["sequence"] for rec in out], order.next
([1, 2], 3)
>>> order, out = release(order, {"sequence": 4, "event_time": 40}, now_ms=0, timeout_ms=100)
>>> order, out = release(order, failed_answer("s", 3, 30), now_ms=0, timeout_ms=100)
>>> [rec["sequence"] for rec in out], order.next
([4], 5)
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SessionOrder:
    """Where a session's answers stand."""

    next: int = 1        # the sequence to publish next
    last_time: int = 0   # latest event time among the answers seen
    held: tuple = ()     # ((sequence, held since (ms), answer), ...), ascending sequences
    touched: int = 0     # wall-clock time (ms) of the latest answer

    def to_json(self) -> list:
        return [self.next, self.last_time, [list(entry) for entry in self.held], self.touched]

    @classmethod
    def from_json(cls, data: list | None) -> "SessionOrder | None":
        if not data:
            return None
        next_, last_time, held, touched = data
        return cls(next_, last_time, tuple(tuple(entry) for entry in held), touched)

    def forgettable(self, now_ms: int, ttl_ms: int) -> bool:
        return not self.held and now_ms - self.touched > ttl_ms


def failed_answer(session_id: str, sequence: int, event_time: int) -> dict:
    """What stands in for the answer of a step that failed."""
    return {"session_id": session_id, "sequence": sequence, "event_time": event_time,
            "failed": True}


def release(order: SessionOrder | None, answer: dict, *, now_ms: int, timeout_ms: int
            ) -> tuple[SessionOrder, list[dict]]:
    """The session's order once ``answer`` arrived, and the answers to publish now."""
    order = order or SessionOrder()
    sequence, event_time = answer["sequence"], answer["event_time"]
    if sequence == 1 and order.next > 1 and event_time - order.last_time > timeout_ms:
        order = SessionOrder()  # the id came back after its timeout: a new session
    order = dataclasses.replace(order, last_time=max(order.last_time, event_time),
                                touched=now_ms)
    if sequence < order.next:  # published before, delivered again: publish again
        return order, _published([answer])
    if any(held == sequence for held, _, _ in order.held):  # held already: it will go out
        return order, []
    held = tuple(sorted(order.held + ((sequence, now_ms, answer),), key=lambda e: e[0]))
    return _drained(dataclasses.replace(order, held=held))


def give_up_waiting(order: SessionOrder, *, now_ms: int, hold_ms: int
                    ) -> tuple[SessionOrder, list[dict]]:
    """Publish what was held longer than ``hold_ms``, in order, skipping what is missing."""
    if not order.held or now_ms - min(since for _, since, _ in order.held) < hold_ms:
        return order, []
    return (dataclasses.replace(order, next=order.held[-1][0] + 1, held=()),
            _published([answer for _, _, answer in order.held]))


def _drained(order: SessionOrder) -> tuple[SessionOrder, list[dict]]:
    next_, held, out = order.next, list(order.held), []
    while held and held[0][0] == next_:
        out.append(held.pop(0)[2])
        next_ += 1
    return dataclasses.replace(order, next=next_, held=tuple(held)), _published(out)


def _published(answers: list[dict]) -> list[dict]:
    return [answer for answer in answers if not answer.get("failed")]
