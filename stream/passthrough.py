"""A bare Faust pass-through app: the benchmark's reference for what Faust alone costs.

It reads page views and answers each with an empty recommendation, without validation,
state or learning, so the gap to the real worker is what PagePilot's own work costs.
Run as ``pagepilot worker --app stream.passthrough``.
"""

import json
import time

from stream.app import create_app
from stream.config import settings
from stream.models import Recommendation

app = create_app([])
_settings = settings()
_pageviews = app.topic(_settings.pageviews_topic, value_serializer="raw")
_recommendations = app.topic(_settings.recommendations_topic, value_type=Recommendation)


@app.agent(_pageviews)
async def passthrough(stream):
    async for event in stream.events():
        view = json.loads(event.value)
        await _recommendations.send(key=view["session_id"], value=Recommendation(
            session_id=view["session_id"], event_id=view["event_id"], sequence=0, cluster="",
            items=[], policy="passthrough", policy_version=0, cold=True,
            event_time=view["timestamp"], ingest_time=int(event.message.timestamp * 1000),
            publish_time=int(time.time() * 1000)))
