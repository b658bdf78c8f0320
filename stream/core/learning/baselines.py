"""The field's session-based baselines, for ``pagepilot evaluate``: sequential rules (SR) and
session-kNN (V-SKNN), as in Ludewig, Mauro, Latifi and Jannach, "Empirical analysis of
session-based recommendation algorithms" (2021). Offline only: the worker does not run them.

Both read ``x["history"]`` (the session's clusters, most recent first, as the worker's
model does); session-kNN also ``x["session"]``, the session id, to find neighbours among
the *other* sessions seen so far.

>>> knn = SessionKNN()
>>> knn.learn_one({"history": ["home"], "session": "a"}, "bags")
>>> knn.learn_one({"history": ["bags", "home"], "session": "a"}, "cart")
>>> sorted(knn.predict_proba_one({"history": ["bags"], "session": "b"}).items())
[('bags', 1.0), ('cart', 1.0), ('home', 1.0)]
"""

from __future__ import annotations

import collections
import heapq

from river import base

from stream.core.learning.sequences import SequentialRules
from stream.core.models import EXIT


def sequential_rules() -> SequentialRules:
    """SR as published: rules up to 10 steps ahead, weight 1/distance, read from the
    current cluster only."""
    return SequentialRules(steps=10, back=1)


class SessionKNN(base.Classifier):
    """V-SKNN: the clusters of the sessions most like this one, weighted by similarity.

    A session is the set of clusters it viewed. Neighbour candidates are the ``sample``
    sessions that most recently viewed one of the session's last ``recent`` clusters; a
    candidate's similarity is the sum, over the clusters it shares with the session, of
    their position weights (the current cluster 1, the one before 1 - 1/``recent_items``,
    ...: "V" for vector weighting); the ``k`` most similar (the most recently active first
    among equals) vote for their clusters with their similarity. As published, the
    session's own clusters get votes too: every neighbour shares them. Leaving them out
    was tried: HR@5 0.19 -> 0.34 on the first 30,000 World Cup 98 page views (visitors
    seldom go back there), 0.79 -> 0.18 on 2,000 generated sessions (they often do). The sampling keeps a prediction to a few hundred set lookups (the
    published setting samples 500 sessions of all items; this is lighter).
    """

    def __init__(self, k: int = 50, sample: int = 100, recent: int = 3,
                 recent_items: int = 10):
        self.k, self.sample, self.recent, self.recent_items = k, sample, recent, recent_items
        self.sessions: dict[str, set[str]] = {}
        self.active: dict[str, int] = {}  # session id -> when it last viewed something
        self.clock = 0
        self.viewed_by: dict[str, collections.deque] = {}  # cluster -> latest session ids

    @property
    def _multiclass(self) -> bool:
        return True

    def learn_one(self, x: dict, y: str) -> None:
        session = x["session"]
        for cluster in [*x.get("history", ())[:1], *([] if y == EXIT else [y])]:
            self._viewed(session, cluster)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        history, session = x.get("history") or (), x["session"]
        weights: dict[str, float] = {}
        for position, cluster in enumerate(history[:self.recent_items]):
            weights.setdefault(cluster, 1.0 - position / self.recent_items)
        candidates = {other for cluster in history[:self.recent]
                      for other in self.viewed_by.get(cluster, ()) if other != session}
        scored = ((sum(w for c, w in weights.items() if c in self.sessions[other]),
                   self.active[other], other) for other in candidates)
        votes: dict[str, float] = {}
        for similarity, _active, other in heapq.nlargest(self.k, scored):
            for cluster in self.sessions[other]:
                votes[cluster] = votes.get(cluster, 0.0) + similarity
        return votes

    def _viewed(self, session: str, cluster: str) -> None:
        self.clock += 1
        self.active[session] = self.clock
        clusters = self.sessions.setdefault(session, set())
        if cluster in clusters:
            return
        clusters.add(cluster)
        latest = self.viewed_by.get(cluster)
        if latest is None:
            latest = self.viewed_by[cluster] = collections.deque(maxlen=self.sample)
        latest.append(session)
