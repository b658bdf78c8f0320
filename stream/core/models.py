"""The records that cross Kafka, defined once for the worker, the replay and the subscriber.

All are JSON without Faust metadata, so any client can read and write them.
"""

from __future__ import annotations

import dataclasses
import typing

import faust

HIT_TYPES = ("PAGE", "EVENT", "TRANSACTION")
EXIT = "(exit)"  # the pseudo-cluster of leaving the site: learned from, never recommended


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


@dataclasses.dataclass(slots=True)
class Step:
    """One learning step of a session's move, applied inside the worker (never sent).

    One step can carry several of these for ``cluster``:

    - ``serve``: recommend for the page view ``event_id``, from its ``features``;
      ``first_view``: it is the session's first view of ``cluster`` (a unique pageview).
    - ``learn_next``: where the session went from ``cluster`` (``EXIT`` when it ended there):
      a label for the models of ``cluster``, with the ``learn_features`` of the page view it
      left and the revenue realised on arrival (``learn_revenue``).
    - ``credit``: transaction revenue credited to ``cluster``'s page value.

    ``source`` is [pageviews partition, offset of the page view that caused it, index among
    its steps]; ``sequence`` numbers the session's page views (1, 2, ...).
    """

    cluster: str
    event_id: str
    session_id: str
    event_time: int
    ingest_time: int
    source: typing.List[int]
    sequence: int = 0
    serve: bool = False
    features: typing.Optional[dict] = None
    first_view: bool = False
    learn_next: typing.Optional[str] = None
    learn_features: typing.Optional[dict] = None
    learn_revenue: float = 0.0
    credit: float = 0.0

    def derive(self, **changes) -> "Step":
        return dataclasses.replace(self, **changes)


class RecommendedPage(faust.Record, include_metadata=False, serializer="json"):
    """One recommended next page cluster and the numbers that ranked it: the policy's
    ``score``, the classifier's ``probability`` of going there, the ``q`` value of going
    there, and its ``page_value``; the ``propensity`` that the variant shows it in the
    list, and the ``slot_propensity`` that it shows it in this slot
    (:mod:`stream.core.experiments`)."""

    cluster: str
    score: float
    probability: float = 0.0
    q: float = 0.0
    page_value: float = 0.0
    propensity: float = 1.0
    slot_propensity: float = 1.0


class Recommendation(faust.Record, include_metadata=False, serializer="json"):
    """The answer to one page view (topic ``recommendations``, key: session id).

    ``items`` is empty and ``cold`` true when there is nothing to recommend yet;
    ``fallback`` names the source of the candidates while the cluster's classifier is cold
    (``markov`` or ``popular``), and is null otherwise. ``policy_version`` counts the
    samples the model that produced the candidates has learned.
    Times are epoch milliseconds: the page view's event time, when it entered Kafka
    (``ingest_time``) and when this record was published (``publish_time``).
    ``sequence`` numbers the page views of the session (1, 2, ...): a session's
    recommendations are published in that order. ``variant`` names the experiment's
    variant the session is assigned to (``default`` without an experiment), ``policy``
    how it ranks, and ``explored`` is true when the list was drawn at random.
    ``counterfactuals`` holds what other variants would have shown, never served: every
    shadow, and every other served variant when this one explores; each item with its
    own ``propensity`` and its ``logging_propensity``, the probability that this record's
    variant shows it (docs/experiments.md).
    """

    session_id: str
    event_id: str
    sequence: int
    cluster: str
    items: typing.List[RecommendedPage]
    policy: str
    policy_version: int
    cold: bool
    fallback: typing.Optional[str]
    event_time: int
    ingest_time: int
    publish_time: int
    variant: str = "default"
    explored: bool = False
    counterfactuals: typing.Optional[typing.Dict[str, typing.List[typing.Dict[str, typing.Any]]]] = None

    def to_plain(self) -> dict:
        """This record as plain JSON values (its items as dicts too)."""
        return {**self.asdict(), "items": [item.asdict() for item in self.items]}


class DeadLetter(faust.Record, include_metadata=False, serializer="json"):
    """A rejected input message: its raw bytes (base64), where it came from, and why."""

    reason: str
    topic: str
    partition: int
    offset: int
    key_b64: typing.Optional[str]
    value_b64: str
    rejected_at: int
