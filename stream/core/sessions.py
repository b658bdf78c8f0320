"""Sessionizing: one session's state and the pure step function that advances it.

``advance(state, view, ...) -> (state, steps)`` is free of Faust and Kafka; the learning
steps it returns are applied by :class:`stream.core.shard.Shard`, in the worker, in ``pagepilot
evaluate`` and in tests alike.

>>> view = PageView(event_id="s-1", session_id="s", visitor_id="v",
...                 timestamp=1_501_591_568_000, page_path="/home")
>>> state, steps = advance(None, view, "home", offset=10, ingest_time=0, timeout_ms=1_800_000)
>>> [(s.cluster, s.serve, s.learn_next) for s in steps]
[('home', True, None)]
>>> view2 = view.derive(event_id="s-2", timestamp=view.timestamp + 30_000)
>>> state, steps = advance(state, view2, "cart", offset=11, ingest_time=0, timeout_ms=1_800_000)
>>> [(s.cluster, s.serve, s.learn_next, s.source) for s in steps]
[('home', False, 'cart', [0, 11, 0]), ('cart', True, None, [0, 11, 1])]
"""

from __future__ import annotations

import dataclasses

from stream.core.learning.features import page_features
from stream.core.learning.pagevalue import SessionPages
from stream.core.models import PageView, Step
from stream.core.models import EXIT


@dataclasses.dataclass(frozen=True)
class SessionState:
    """What the sessionizer remembers of an open session."""

    cluster: str          # page cluster of the last page view
    last_time: int        # its event time, epoch ms
    offset: int           # highest input offset of this session already processed
    hits: int             # page views so far
    landing: str          # cluster of the landing page
    features: dict        # features of the last page view (the input of its label)
    pages: tuple = ()     # clusters viewed so far (for page-value credit)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "SessionState | None":
        """Read a stored state; keys that are not fields (stored beside it) are ignored."""
        if not data:
            return None
        values = {field.name: data[field.name] for field in dataclasses.fields(cls)}
        return cls(**values | {"pages": tuple(values["pages"])})


def advance(state: SessionState | None, view: PageView, cluster: str, *, offset: int,
            ingest_time: int, timeout_ms: int, partition: int = 0
            ) -> tuple[SessionState | None, list[Step]]:
    """Apply one page view to its session; return the new state and its learning steps
    (sources ``[partition, offset, 0..n-1]``; one of them serves the page view)."""
    step = _step_factory(view, ingest_time)
    steps = []
    if state is not None and view.timestamp - state.last_time > timeout_ms:
        steps.append(exit_step(view.session_id, state, ingest_time))
        state = None
    hits = (state.hits if state else 0) + 1
    features = page_features(
        history=[cluster, *state.features.get("history", (state.cluster,))] if state else [cluster],
        dwell_s=(view.timestamp - state.last_time) / 1000 if state else 0.0,
        device=view.device, channel=view.channel, timestamp_ms=view.timestamp,
        landing=state.landing if state else cluster, hits=hits - 1)
    pages, first_view, credited = SessionPages(state.pages if state else ()).visit(
        cluster, view.revenue)
    serve = step(cluster, serve=True, features=features, first_view=first_view, sequence=hits)
    if state is not None:
        learn = dict(learn_next=cluster, learn_features=state.features,
                     learn_revenue=view.revenue)
        if state.cluster == cluster:  # one step both learns (first) and serves
            serve = serve.derive(**learn)
        else:
            steps.append(step(state.cluster, **learn))
    steps.append(serve.derive(credit=view.revenue) if cluster in credited else serve)
    steps += [step(other, credit=view.revenue) for other in credited if other != cluster]
    new_state = SessionState(
        cluster=cluster, last_time=max(state.last_time, view.timestamp) if state else view.timestamp,
        offset=offset, hits=hits, landing=state.landing if state else cluster,
        features=features, pages=pages.clusters)
    return new_state, _numbered(steps, partition, offset)


def expired(state: SessionState, watermark: int, timeout_ms: int) -> bool:
    """True when the stream's event time has moved past the session's inactivity timeout."""
    return watermark - state.last_time > timeout_ms


def exit_step(session_id: str, state: SessionState, ingest_time: int,
              source: list[int] | None = None) -> Step:
    """The terminal step of a session that ended on ``state.cluster``."""
    return Step(cluster=state.cluster, event_id=f"{session_id}#exit", session_id=session_id,
                event_time=state.last_time, ingest_time=ingest_time, learn_next=EXIT,
                learn_features=state.features, source=source or [0, state.offset, 0])


def _numbered(steps: list[Step], partition: int, offset: int) -> list[Step]:
    for index, step in enumerate(steps):  # new steps, not yet shared: numbered in place
        step.source = [partition, offset, index]
    return steps


def _step_factory(view: PageView, ingest_time: int):
    def step(cluster: str, **fields) -> Step:
        return Step(cluster=cluster, event_id=view.event_id, session_id=view.session_id,
                    event_time=view.timestamp, ingest_time=ingest_time, source=[0, 0, 0],
                    **fields)
    return step
