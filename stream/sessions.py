"""Sessionizing: one session's state, the pure step function that advances it, and the
session record that makes the sessionizer idempotent.

``advance(state, view, ...) -> (state, steps)`` is free of Faust and Kafka: ``pagepilot
evaluate`` and tests call it directly. The worker keeps a :class:`SessionRecord` per session
in a table and calls :func:`on_page_view` and :func:`sweep`, which send, for an input offset
processed again after a crash or a rebalance, exactly the steps they sent the first time.

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

from stream.learning.features import page_features
from stream.learning.pagevalue import SessionPages
from stream.models import PageView, Step
from stream.models import EXIT


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
    """Apply one page view to its session; return the new state and the steps to send.

    The steps' sources are ``[partition, offset, 0..n-1]``. A page view at or below the
    offset the session has already processed, whose steps are no longer at hand, is served
    again from the session's latest context (so it surely gets its recommendation), but
    nothing is learned from it twice.
    """
    step = _step_factory(view, ingest_time)
    if state is not None and offset <= state.offset:
        return state, _numbered([step(cluster, serve=True, features=state.features)],
                                partition, offset)
    steps = []
    if state is not None and view.timestamp - state.last_time > timeout_ms:
        steps.append(exit_step(view.session_id, state, ingest_time))
        state = None
    hits = (state.hits if state else 0) + 1
    features = page_features(
        previous=state.cluster if state else None,
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


@dataclasses.dataclass(frozen=True)
class SessionRecord:
    """A session's entry in the worker's table: its state and its outbox.

    ``state`` is None once the session is closed: the record stays, a tombstone, until the
    consumer group has committed its last offset. ``outbox`` maps each input offset not yet
    known to be committed to the steps sent for it: Faust can deliver that page view again
    (after a crash or a rebalance) when the table's changelog is already ahead of the
    committed offset, and the same steps must then go out again, not new ones.
    """

    partition: int
    state: SessionState | None = None
    outbox: tuple = ()  # ((offset, [step as dict, ...]), ...), ascending offsets

    def to_json(self) -> dict:
        return {"partition": self.partition,
                "state": self.state.to_json() if self.state else None,
                "outbox": [[offset, steps] for offset, steps in self.outbox]}

    @classmethod
    def from_json(cls, data: dict | None) -> "SessionRecord | None":
        if not data:
            return None
        return cls(partition=data["partition"], state=SessionState.from_json(data["state"]),
                   outbox=tuple((offset, steps) for offset, steps in data["outbox"]))

    def sent(self, offset: int) -> list[Step] | None:
        """The steps sent for ``offset`` (None: it was not processed, or long committed)."""
        for sent_offset, steps in self.outbox:
            if sent_offset == offset:
                return [Step.from_data(step) for step in steps]
        return None

    def after(self, offset: int, state: SessionState | None, steps: list[Step],
              committed: int | None) -> "SessionRecord":
        """This record once ``offset`` is processed, keeping what may still be redelivered."""
        kept = tuple(entry for entry in self.outbox if _uncommitted(entry[0], committed))
        return SessionRecord(self.partition, state,
                             kept + ((offset, [step.asdict() for step in steps]),))

    def forgettable(self, committed: int | None) -> bool:
        """Closed, and none of its offsets can be delivered again: it may be deleted."""
        return self.state is None and not any(
            _uncommitted(offset, committed) for offset, _ in self.outbox)


def on_page_view(record: SessionRecord | None, view: PageView, cluster: str, *, partition: int,
                 offset: int, ingest_time: int, timeout_ms: int, committed: int | None
                 ) -> tuple[SessionRecord, list[Step]]:
    """The session's record after one page view, and the steps to send for it."""
    if record is not None:
        sent = record.sent(offset)
        if sent is not None:  # processed before: the same steps again
            return record, sent
    record = record or SessionRecord(partition)
    state, steps = advance(record.state, view, cluster, offset=offset, ingest_time=ingest_time,
                           timeout_ms=timeout_ms, partition=partition)
    if state is record.state:  # a redelivery from before the outbox: serve only
        return record, steps
    return record.after(offset, state, steps, committed), steps


def sweep(records: dict[str, SessionRecord], *, partition: int, offset: int, event_time: int,
          ingest_time: int, timeout_ms: int, committed: int | None, first_index: int
          ) -> tuple[dict[str, SessionRecord | None], list[Step]]:
    """Close the sessions of ``partition`` that went quiet before ``event_time``.

    Called for the page view at ``offset`` (not for its own session), it is deterministic:
    run again for the same offset, it sends the exits it sent the first time, with the same
    sources ``[partition, offset, first_index + i]`` in the order of session ids. Returns
    the records to write (None: delete) and the exit steps to send.
    """
    changes: dict[str, SessionRecord | None] = {}
    closing: dict[str, list[Step] | None] = {}
    for session_id, record in records.items():
        if record.partition != partition:
            continue
        sent = record.sent(offset)
        if sent is not None:
            closing[session_id] = sent  # closed by this sweep before: the same exit again
        elif record.state is None:
            if record.forgettable(committed):
                changes[session_id] = None
        elif record.state.offset < offset and expired(record.state, event_time, timeout_ms):
            closing[session_id] = None
    exits: list[Step] = []
    for index, session_id in enumerate(sorted(closing), start=first_index):
        sent = closing[session_id]
        if sent is None:
            record = records[session_id]
            sent = [exit_step(session_id, record.state, ingest_time,
                              source=[partition, offset, index])]
            changes[session_id] = record.after(offset, None, sent, committed)
        exits += sent
    return changes, exits


def _uncommitted(offset: int, committed: int | None) -> bool:
    return committed is None or offset >= committed


def _numbered(steps: list[Step], partition: int, offset: int) -> list[Step]:
    return [step.derive(source=[partition, offset, index]) for index, step in enumerate(steps)]


def _step_factory(view: PageView, ingest_time: int):
    def step(cluster: str, **fields) -> Step:
        return Step(cluster=cluster, event_id=view.event_id, session_id=view.session_id,
                    event_time=view.timestamp, ingest_time=ingest_time, source=[0, 0, 0],
                    **fields)
    return step
