"""The records that cross Kafka, defined once for the worker, the replay and the subscriber.

All are JSON without Faust metadata, so any client can read and write them.
"""

from __future__ import annotations

import typing

import faust

HIT_TYPES = ("PAGE", "EVENT", "TRANSACTION")


class PageView(faust.Record, include_metadata=False, serializer="json"):
    """One page hit of a visitor, the input of the stream (topic ``pageviews``, key: session id).

    ``timestamp`` is the event time in milliseconds since the epoch; ``revenue`` is the
    transaction revenue carried by this hit (0 for a plain page view).
    """

    event_id: str
    session_id: str
    visitor_id: str
    timestamp: int
    page_path: str
    page_title: str = ""
    hit_type: str = "PAGE"
    revenue: float = 0.0
    device: str = ""
    channel: str = ""
    country: str = ""
    hit_number: int = 0


class Step(faust.Record, include_metadata=False, serializer="json"):
    """A session's move, sent by the sessionizer to the partition of a page cluster.

    ``serve``: recommend from ``cluster`` for the page view ``event_id``.
    ``learn_next``: the cluster the session went to from ``cluster`` (a label for the
    model of ``cluster``); ``EXIT`` when the session ended there.
    """

    cluster: str
    event_id: str
    session_id: str
    event_time: int
    ingest_time: int
    serve: bool = False
    learn_next: typing.Optional[str] = None


class RecommendedPage(faust.Record, include_metadata=False, serializer="json"):
    """One recommended next page cluster and the score that ranked it."""

    cluster: str
    score: float


class Recommendation(faust.Record, include_metadata=False, serializer="json"):
    """The answer to one page view (topic ``recommendations``, key: session id).

    ``items`` is empty and ``cold`` true while the current cluster has too little data
    (or no next cluster other than itself has been seen).
    Times are epoch milliseconds: the page view's event time, when it entered Kafka
    (``ingest_time``) and when this record was published (``publish_time``).
    """

    session_id: str
    event_id: str
    cluster: str
    items: typing.List[RecommendedPage]
    policy: str
    policy_version: int
    cold: bool
    event_time: int
    ingest_time: int
    publish_time: int


class DeadLetter(faust.Record, include_metadata=False, serializer="json"):
    """A rejected input message: its raw bytes (base64), where it came from, and why."""

    reason: str
    topic: str
    partition: int
    offset: int
    key_b64: typing.Optional[str]
    value_b64: str
    rejected_at: int
