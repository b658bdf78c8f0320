"""The topics the worker reads and writes, declared once with their partition counts."""

from stream.app import app
from stream.config import settings
from stream.models import DeadLetter, Recommendation, Step

_settings = settings()

# Input is taken as raw bytes: the worker validates it itself, so bad bytes become dead letters.
pageviews_topic = app.topic(_settings.pageviews_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
steps_topic = app.topic(_settings.steps_topic, key_type=str, value_type=Step, internal=True)
# Answers are plain JSON: recommendations on their way to being published, or ticks.
answers_topic = app.topic(_settings.answers_topic, key_type=str, value_serializer="json",
                          internal=True)
recommendations_topic = app.topic(_settings.recommendations_topic, key_type=str,
                                  value_type=Recommendation)
dead_letter_topic = app.topic(_settings.dead_letter_topic, key_type=bytes,
                              value_type=DeadLetter, key_serializer="raw")

