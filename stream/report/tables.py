"""The per-cluster tables of the report: page value, and the learned policy against the
most likely next page.

The **learned policy** of a cluster is what the frozen policy published on the cluster's
page views of the evaluation part (the most frequent first item, and how often it was
first): each page view has its own features, so the answer can differ between page views.
The **most likely next page** is the first other cluster of the cluster's Markov counts
when the policy was frozen. Q-values and page values are the frozen ones, which made the
policy's choice; the page value of the evaluation part is measured on sessions the policy
never learned from.
"""

from __future__ import annotations

import collections

from stream.core.evaluate import Recommended
from stream.core.learning.cluster import ClusterValue
from stream.core.learning.pagevalue import PageValueTracker
from stream.core.models import EXIT
from stream.report.learned import FrozenPolicy, PageViews


def page_values(frozen: FrozenPolicy, views: PageViews) -> list[dict]:
    """Per cluster: the page value the policy learned, and the evaluation part's.

    Sorted by the learned page value, highest first.
    """
    tracker = PageValueTracker()
    for session, cluster, revenue in zip(views.session, views.cluster, views.revenue):
        tracker.learn_one(str(session), cluster, revenue)
    measured = tracker.values()
    clusters = sorted(set(frozen.values) | set(measured),
                      key=lambda c: (-_page_value(frozen.values, c), c))
    return [{"cluster": c, "learned": round(_page_value(frozen.values, c), 2),
             "evaluation": round(measured.get(c, 0.0), 2),
             "visitors": frozen.values.get(c, ClusterValue()).visitors} for c in clusters]


def learned_policy(frozen: FrozenPolicy, views: PageViews,
                   followed: list[str | None]) -> list[dict]:
    """Per cluster with page views in the evaluation part, most viewed first: what the
    policy recommended, what a visitor could follow (``followed``, per page view), and the
    most likely next cluster, with their Q-values and page values."""
    by_cluster: dict[str, list[int]] = collections.defaultdict(list)
    for i, cluster in enumerate(views.cluster):
        by_cluster[cluster].append(i)
    rows = []
    for cluster, seen in sorted(by_cluster.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        first, first_share = _most_common(views.recommended[i][0] if views.recommended[i]
                                          else None for i in seen)
        follow, follow_share = _most_common(followed[i] for i in seen)
        likely, probability = _most_likely(frozen, cluster)
        sources = collections.Counter(views.source[i] for i in seen)
        rows.append({
            "cluster": cluster, "page_views": len(seen),
            "recommended": first, "recommended_share": first_share,
            "followed": follow, "followed_share": follow_share,
            "most_likely": likely, "most_likely_probability": probability,
            "q_recommended": _q(frozen, cluster, first),
            "q_most_likely": _q(frozen, cluster, likely),
            "page_value_recommended": _page_value(frozen.values, first),
            "page_value_most_likely": _page_value(frozen.values, likely),
            "sources": {name: round(n / len(seen), 4) for name, n in sources.most_common()}})
    return rows


def recommended(views: PageViews) -> dict:
    """The variety of the frozen policy's lists on the evaluation part (see
    :class:`stream.core.evaluate.Recommended`)."""
    counted = Recommended()
    for cluster, items in zip(views.cluster, views.recommended):
        counted.add(cluster, tuple(items))
    return counted.report()


def _most_common(items) -> tuple[str | None, float]:
    counts = collections.Counter(items)
    item, n = counts.most_common(1)[0]
    return item, round(n / counts.total(), 4)


def _most_likely(frozen: FrozenPolicy, cluster: str) -> tuple[str | None, float]:
    row = frozen.rows.get(cluster)
    if row is None:
        return None, 0.0
    ranking = row.markov.ranking(exclude=(cluster, EXIT))
    if not ranking:
        return None, 0.0
    return ranking[0], round(row.markov.counts[ranking[0]] / row.markov.total, 4)


def _q(frozen: FrozenPolicy, cluster: str, target: str | None) -> float | None:
    row = frozen.rows.get(cluster)
    if row is None or target is None:
        return None
    return round(row.q.q(target), 2)


def _page_value(values: dict[str, ClusterValue], cluster: str | None) -> float:
    return values[cluster].page_value if cluster in values else 0.0
