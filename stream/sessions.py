"""Sessionizing: one session's state and the pure step function that advances it.

``advance(state, view, ...) -> (state, steps)`` is free of Faust and Kafka: the agent stores
the state in a table and sends the steps; tests call it directly.

>>> view = PageView(event_id="s-1", session_id="s", visitor_id="v",
...                 timestamp=1_501_591_568_000, page_path="/home")
>>> state, steps = advance(None, view, "home", offset=10, ingest_time=0, timeout_ms=1_800_000)
>>> [(s.cluster, s.serve, s.learn_next) for s in steps]
[('home', True, None)]
>>> view2 = view.derive(event_id="s-2", timestamp=view.timestamp + 30_000)
>>> state, steps = advance(state, view2, "cart", offset=11, ingest_time=0, timeout_ms=1_800_000)
>>> [(s.cluster, s.serve, s.learn_next) for s in steps]
[('home', False, 'cart'), ('cart', True, None)]
"""

from __future__ import annotations

import dataclasses

from stream.models import PageView, Step
from stream.policy import EXIT


@dataclasses.dataclass(frozen=True)
class SessionState:
    """What the sessionizer remembers of an open session."""

    cluster: str      # page cluster of the last page view
    last_time: int    # its event time, epoch ms
    offset: int       # highest input offset of this session already processed
    hits: int         # page views so far

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "SessionState | None":
        """Read a stored state; keys that are not fields (stored beside it) are ignored."""
        if not data:
            return None
        return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls)})


def advance(state: SessionState | None, view: PageView, cluster: str, *, offset: int,
            ingest_time: int, timeout_ms: int) -> tuple[SessionState | None, list[Step]]:
    """Apply one page view to its session; return the new state and the steps to send.

    A page view at or below the offset the session has already processed is a redelivery
    (Faust is at-least-once): it is served again, so it surely gets its recommendation, but
    its transition is not learned twice.
    """
    step = _step_factory(view, ingest_time)
    if state is not None and offset <= state.offset:
        return state, [step(cluster, serve=True)]
    steps = []
    if state is not None and view.timestamp - state.last_time > timeout_ms:
        steps.append(step(state.cluster, learn_next=EXIT))
        state = None
    if state is None:
        steps.append(step(cluster, serve=True))
    elif state.cluster == cluster:
        steps.append(step(cluster, serve=True, learn_next=cluster))
    else:
        steps += [step(state.cluster, learn_next=cluster), step(cluster, serve=True)]
    hits = state.hits + 1 if state else 1
    last_time = max(state.last_time, view.timestamp) if state else view.timestamp
    return SessionState(cluster=cluster, last_time=last_time, offset=offset, hits=hits), steps


def expired(state: SessionState, watermark: int, timeout_ms: int) -> bool:
    """True when the stream's event time has moved past the session's inactivity timeout."""
    return watermark - state.last_time > timeout_ms


def exit_step(session_id: str, state: SessionState, ingest_time: int) -> Step:
    """The terminal step of a session that ended on ``state.cluster``."""
    return Step(cluster=state.cluster, event_id=f"{session_id}#exit", session_id=session_id,
                event_time=state.last_time, ingest_time=ingest_time, learn_next=EXIT)


def _step_factory(view: PageView, ingest_time: int):
    def step(cluster: str, serve: bool = False, learn_next: str | None = None) -> Step:
        return Step(cluster=cluster, event_id=view.event_id, session_id=view.session_id,
                    event_time=view.timestamp, ingest_time=ingest_time, serve=serve,
                    learn_next=learn_next)
    return step
