"""A bare Faust pass-through app: the benchmark's reference for what Faust alone costs.

It reads page views and answers each with an empty recommendation, without validation,
state or learning, so the gap to the real worker is what PagePilot's own work costs.
Run as ``pagepilot worker --app stream.tools.passthrough``.

``PAGEPILOT_PASSTHROUGH`` (read once at import) chooses the agent body: ``await`` (default)
awaits the send of each answer; ``batched`` takes up to 500 events within 50 ms and queues
each answer with ``send_soon``.
"""

import json
import os
import time

from stream.config import settings
from stream.core.models import Recommendation
from stream.worker.app import create_app

BATCH, WITHIN_S = 500, 0.05

app = create_app([])
_settings = settings()
_pageviews = app.topic(_settings.pageviews_topic, value_serializer="raw")
_recommendations = app.topic(_settings.recommendations_topic, value_type=Recommendation)


def _answer(event) -> Recommendation:
    view = json.loads(event.value)
    return Recommendation(
        session_id=view["session_id"], event_id=view["event_id"], sequence=0, cluster="",
        items=[], policy="passthrough", policy_version=0, cold=True,
        event_time=view["timestamp"], ingest_time=int(event.message.timestamp * 1000),
        publish_time=int(time.time() * 1000))


async def _await_each(stream):
    async for event in stream.events():
        answer = _answer(event)
        await _recommendations.send(key=answer.session_id, value=answer)


async def _batched(stream):
    async for events in stream.take_events(BATCH, within=WITHIN_S):
        for event in events:
            answer = _answer(event)
            _recommendations.send_soon(key=answer.session_id, value=answer)


MODES = {"await": _await_each, "batched": _batched}
MODE = os.environ.get("PAGEPILOT_PASSTHROUGH") or "await"
if MODE not in MODES:
    raise ValueError(f"PAGEPILOT_PASSTHROUGH={MODE!r} is not one of {', '.join(MODES)}")
passthrough = app.agent(_pageviews, name="passthrough")(MODES[MODE])
