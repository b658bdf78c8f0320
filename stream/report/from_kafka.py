"""The report of a running system: its page views, published recommendations and the
outcomes of its experiment, read from its Kafka topics without a consumer group (so the
worker's offsets are untouched), each up to the end offsets seen when its read starts.

Page views are validated as the worker validates them; invalid ones (the worker
dead-letters them) and repeats of an event id (at-least-once producers) are counted and
left out. Recommendations and outcomes are kept once per event id, as a reader should
(a worker that restarts publishes some of them again); outcomes that lack a field the
estimates read are counted and left out.
"""

from __future__ import annotations

import collections
import json

from stream.core.models import PageView, Recommendation
from stream.report.learned import PageViews


def read_page_views(config) -> tuple[list[PageView], dict]:
    """The valid page views of ``config.pageviews_topic`` in event-time order, and counts."""
    from consumers.subscriber import read_topic
    from stream.core.validation import InvalidEvent, parse_pageview

    views, seen, counts = [], set(), collections.Counter()
    for value in read_topic(config.pageviews_topic, config=config):
        try:
            view = parse_pageview(value, config.max_event_bytes)
        except InvalidEvent:
            counts["invalid"] += 1
            continue
        if view.event_id in seen:
            counts["repeated"] += 1
            continue
        seen.add(view.event_id)
        views.append(view)
    views.sort(key=lambda view: (view.timestamp, view.hit_number))
    return views, {"valid": len(views), "invalid": counts["invalid"],
                   "repeated": counts["repeated"]}


def read_recommendations(config) -> list[Recommendation]:
    """Unique recommendations of ``config.recommendations_topic`` (none if it is missing)."""
    from consumers.subscriber import read_topic

    recs: dict[str, Recommendation] = {}
    try:
        for value in read_topic(config.recommendations_topic, config=config):
            rec = Recommendation.from_data(json.loads(value))
            recs.setdefault(rec.event_id, rec)
    except LookupError:  # the topic was never created: no worker ran
        return []
    return list(recs.values())


def read_outcomes(config) -> tuple[list[dict], dict]:
    """Unique, valid outcomes of ``config.outcomes_topic`` (one message per ended session)
    in the order read, and counts (``messages`` and ``records`` (outcomes) read,
    ``repeated``, ``invalid``; ``missing`` when the topic does not exist: no worker of this
    version ran)."""
    from consumers.subscriber import read_topic
    from stream.core.outcomes import message_outcomes
    from stream.report.logged import is_outcome

    outcomes: dict[str, dict] = {}
    counts = collections.Counter()
    try:
        for value in read_topic(config.outcomes_topic, config=config):
            counts["messages"] += 1
            try:
                records = message_outcomes(json.loads(value))
            except (TypeError, ValueError):
                records = [None]  # one unreadable message
            for data in records:
                counts["records"] += 1
                if not is_outcome(data):
                    counts["invalid"] += 1
                elif data["event_id"] in outcomes:
                    counts["repeated"] += 1
                else:
                    outcomes[data["event_id"]] = data
    except LookupError:
        return [], {"messages": 0, "records": 0, "repeated": 0, "invalid": 0, "missing": True}
    return list(outcomes.values()), {"messages": counts["messages"],
                                     "records": counts["records"],
                                     "repeated": counts["repeated"],
                                     "invalid": counts["invalid"], "missing": False}


def published_summary(published: list[Recommendation], views: PageViews) -> dict:
    """What the running system published, and how often its first recommendation on the
    evaluation page views is the frozen policy's.

    >>> from stream.core.models import RecommendedPage
    >>> rec = Recommendation(session_id="s", event_id="s-1", sequence=1, cluster="home",
    ...     items=[RecommendedPage(cluster="bags", score=1.0)], policy="river+q",
    ...     policy_version=40, cold=False, fallback=None, event_time=0, ingest_time=0,
    ...     publish_time=0)
    >>> views = PageViews(event_id=["s-1"], recommended=[("bags", "home")])
    >>> summary = published_summary([rec], views)
    >>> summary["recommendations"], summary["cold_share"], summary["agreement"]
    (1, 0.0, 1.0)
    """
    if not published:
        return {"recommendations": 0}
    first = {rec.event_id: rec.items[0].cluster if rec.items else None for rec in published}
    frozen = [(first[event], items[0] if items else None)
              for event, items in zip(views.event_id, views.recommended) if event in first]
    fallbacks = collections.Counter(rec.fallback or ("cold" if rec.cold else "river")
                                    for rec in published)
    versions = [rec.policy_version for rec in published]
    return {
        "recommendations": len(published),
        "cold_share": round(sum(rec.cold for rec in published) / len(published), 4),
        "sources": {name: round(n / len(published), 4) for name, n in fallbacks.most_common()},
        "policy_versions": [min(versions), max(versions)],
        "policies": sorted({rec.policy for rec in published}),
        "compared": len(frozen),
        "agreement": round(sum(a == b for a, b in frozen) / len(frozen), 4) if frozen else None,
        "first_by_cluster": _first_by_cluster(published),
    }


def _first_by_cluster(published: list[Recommendation]) -> dict[str, list]:
    """Per cluster, the most often published first recommendation and its share."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for rec in published:
        counts[rec.cluster][rec.items[0].cluster if rec.items else None] += 1
    return {cluster: [c.most_common(1)[0][0], round(c.most_common(1)[0][1] / c.total(), 4)]
            for cluster, c in sorted(counts.items())}
