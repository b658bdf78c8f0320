"""The topics the worker reads and writes, declared once with their partition counts."""

from stream.app import app
from stream.config import settings
from stream.models import DeadLetter, Recommendation

_settings = settings()

# Input is taken as raw bytes: the worker validates it itself, so bad bytes become dead letters.
pageviews_topic = app.topic(_settings.pageviews_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
recommendations_topic = app.topic(_settings.recommendations_topic, key_type=str,
                                  value_type=Recommendation)
dead_letter_topic = app.topic(_settings.dead_letter_topic, key_type=bytes,
                              value_type=DeadLetter, key_serializer="raw")
# key: "<partition>/<cluster>", value: a ClusterSnapshot as JSON (see stream.snapshots)
snapshots_topic = app.topic(_settings.snapshots_topic, key_type=str, value_type=bytes,
                            key_serializer="raw", value_serializer="raw", partitions=1)
