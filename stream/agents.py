"""The worker's agents: thin loops that move records between topics and tables.

``sessionize`` (pageviews, key: session) validates each page view, dead-letters bad ones,
and sends steps to the partition of the page cluster; ``learn_and_serve`` (steps, key:
cluster) learns next-page counts and publishes a recommendation for every page view.
Both write tables, so both run with concurrency 1.
"""

from __future__ import annotations

import base64
import logging
import time

from stream.app import app
from stream.clusters import PageClusterer
from stream.config import settings
from stream.models import DeadLetter, PageView, Recommendation
from stream.policy import POLICY_NAME, NextPageCounts
from stream.sessions import SessionState, advance, exit_step, expired
from stream.topics import dead_letter_topic, pageviews_topic, recommendations_topic, steps_topic
from stream.validation import InvalidEvent, parse_pageview

log = logging.getLogger(__name__)
_settings = settings()
_clusterer = PageClusterer.from_file(_settings.cluster_rules)
_timeout_ms = int(_settings.session_timeout_s * 1000)

# key: session id -> SessionState (json)
sessions = app.Table("sessions", default=None, partitions=_settings.partitions)
# key: page cluster -> NextPageCounts (json)
transitions = app.Table("transitions", default=None, partitions=_settings.partitions)


@app.agent(pageviews_topic, concurrency=1)
async def sessionize(stream):
    sweeps: dict[int, int] = {}  # partition -> event time of its last expiry sweep
    async for event in stream.events():
        message = event.message
        try:
            view = _valid_pageview(message.key, message.value)
            await _sessionize_one(view, message)
            await _sweep_expired(message.partition, view.timestamp, sweeps)
        except InvalidEvent as exc:
            await _dead_letter(message, str(exc))
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("page view at %s[%s]@%s failed", message.topic,
                          message.partition, message.offset)
            await _dead_letter(message, f"internal error: {exc!r}")


@app.agent(steps_topic, concurrency=1)
async def learn_and_serve(stream):
    async for event in stream.events():
        step, offset = event.value, event.message.offset
        try:
            row = NextPageCounts.from_json(transitions.get(step.cluster))
            if step.learn_next and offset > row.offset:
                row = row.learned(step.learn_next, offset)
                transitions[step.cluster] = row.to_json()
            if step.serve:
                recommendations_topic.send_soon(key=step.session_id, value=_recommend(step, row))
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("step %s at offset %s failed", step, offset)
            await _dead_letter(event.message, f"internal error: {exc!r}")


def _valid_pageview(key: bytes | None, value: bytes | None) -> PageView:
    if value is None:
        raise InvalidEvent("empty message (no value)")
    view = parse_pageview(value, _settings.max_event_bytes)
    if not key:
        raise InvalidEvent("message has no key (the session id is expected)")
    if key != view.session_id.encode():
        raise InvalidEvent("message key does not match session_id")
    return view


async def _sessionize_one(view: PageView, message) -> None:
    cluster = _clusterer.cluster_of(view.page_path, view.page_title)
    state = SessionState.from_json(sessions.get(view.session_id))
    state, steps = advance(state, view, cluster, offset=message.offset,
                           ingest_time=_ms(message.timestamp), timeout_ms=_timeout_ms)
    sessions[view.session_id] = state.to_json() | {"partition": message.partition}
    for step in steps:
        steps_topic.send_soon(key=step.cluster, value=step)


async def _sweep_expired(partition: int, event_time: int, sweeps: dict[int, int]) -> None:
    """Close this partition's sessions that went quiet, so session state stays bounded.

    Only the current event's partition is swept: Faust writes a table change to the
    changelog partition of the event being processed.
    """
    if event_time - sweeps.get(partition, 0) < _timeout_ms / 4:
        return
    sweeps[partition] = event_time
    now = _ms(time.time())
    for session_id, data in list(sessions.items()):
        if data["partition"] != partition:
            continue
        state = SessionState.from_json(data)
        if expired(state, event_time, _timeout_ms):
            steps_topic.send_soon(key=state.cluster, value=exit_step(session_id, state, now))
            del sessions[session_id]


def _recommend(step, row: NextPageCounts) -> Recommendation:
    enough = row.total >= _settings.cold_start_min
    items = row.recommend(step.cluster, _settings.top_k) if enough else []
    return Recommendation(
        session_id=step.session_id, event_id=step.event_id, cluster=step.cluster,
        items=items, policy=POLICY_NAME, policy_version=row.total, cold=not items,
        event_time=step.event_time, ingest_time=step.ingest_time, publish_time=_ms(time.time()))


async def _dead_letter(message, reason: str) -> None:
    await dead_letter_topic.send(key=message.key if isinstance(message.key, bytes) else None,
                                 value=DeadLetter(
        reason=reason, topic=message.topic, partition=message.partition,
        offset=message.offset, key_b64=_b64(message.key), value_b64=_b64(message.value) or "",
        rejected_at=_ms(time.time())))


def _b64(data) -> str | None:
    if data is None:
        return None
    raw = data if isinstance(data, bytes) else str(data).encode()
    return base64.b64encode(raw).decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
