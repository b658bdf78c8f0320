"""The topics the worker reads and writes, declared once with their partition counts."""

from stream.config import settings
from stream.core.models import DeadLetter
from stream.worker.app import app

_settings = settings()

# Input is taken as raw bytes: the worker validates it itself, so bad bytes become dead letters.
pageviews_topic = app.topic(_settings.pageviews_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
# Recommendations are sent as JSON bytes of Recommendation's fields (no record per event).
recommendations_topic = app.topic(_settings.recommendations_topic, key_type=str,
                                  value_type=bytes, value_serializer="raw")
dead_letter_topic = app.topic(_settings.dead_letter_topic, key_type=bytes,
                              value_type=DeadLetter, key_serializer="raw")
