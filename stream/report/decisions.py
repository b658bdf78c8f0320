"""The evaluation sessions as decisions: at every page view the visitor was in a state,
made a move (the next page cluster, or leaving), and the policy had a recommendation.

A **state** is the page cluster of the page view, the cluster of the page before it
(``(entrance)`` on the landing page), and whether the session has entered its own order
yet (viewed one of the *not followed* clusters: sign-in, cart, checkout). One step of
memory is what the River classifier finds most useful (docs/learning.md); the order flag
keeps a visitor who signs in to pay apart from one who signs in while browsing. The same
flag and set of clusters say where a recommendation cannot lead: a link to an empty cart
buys nothing, and a visitor on the way to their checkout goes on to it.

Everything is numpy arrays indexed by decision, sorted by session and hit, so that the
estimators can weight sessions (a bootstrap resample) with one multiplication.

>>> views = PageViews(session=[0, 0, 1], event_id=["a-1", "a-2", "b-1"], hit=[1, 2, 1],
...                   previous=[ENTRANCE, "home", ENTRANCE], cluster=["home", "bags", "home"],
...                   time_ms=[0, 30_000, 5_000], revenue=[0.0, 0.0, 0.0],
...                   recommended=[("cart", "bags"), ("home",), ("bags",)],
...                   source=["river"] * 3)
>>> d = Decisions.from_page_views(views, ("home", "bags", "cart"), not_followed={"cart"})
>>> d.n_sessions, d.action.tolist(), d.dwell.tolist(), d.recommended.tolist()
(2, [1, 3, 3], [30.0, 0.0, 0.0], [1, 0, 1])
>>> [d.states[s] for s in d.state]
[('(entrance)', 'home', False), ('home', 'bags', False), ('(entrance)', 'home', False)]
>>> landing = d.state[0]  # from the landing page: to bags; to the cart (a state never seen)
>>> d.states[d.next_state[landing, 1]], int(d.next_state[landing, 2])
(('home', 'bags', False), -1)
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from stream.core.learning.features import ENTRANCE
from stream.report.learned import PageViews

State = tuple[str, str, bool]  # previous cluster, cluster, in the order


@dataclasses.dataclass(frozen=True)
class Decisions:
    """Decisions of the evaluation sessions (arrays of one length, sorted by session, hit).

    Cluster numbers index ``clusters``; ``exit`` (= ``len(clusters)``) is leaving the site.
    ``states`` are those seen and those a followed recommendation leads to.
    """

    clusters: tuple[str, ...]
    states: tuple[State, ...]
    followable: np.ndarray    # per move: a recommendation can lead there (never: leaving)
    session: np.ndarray       # session number, 0 .. n_sessions - 1
    hit: np.ndarray           # 1 on the landing page
    state: np.ndarray         # index into ``states``
    cluster: np.ndarray       # cluster of the page view
    action: np.ndarray        # the next cluster, or ``exit``
    revenue: np.ndarray       # transaction revenue of the next page view (0 on leaving)
    dwell: np.ndarray         # seconds until the next page view: time on page (0 on leaving)
    recommended: np.ndarray   # the recommendation a visitor could follow, -1 if none
    landing_revenue: np.ndarray  # per session: revenue of the landing page view

    entrance = ENTRANCE

    @property
    def exit(self) -> int:
        return len(self.clusters)

    @property
    def n_sessions(self) -> int:
        return len(self.landing_revenue)

    @functools.cached_property
    def state_group(self) -> np.ndarray:
        """Each state's (cluster, order flag, landing page or not) as one number: the
        states a rarely seen state borrows its behaviour from (``4 * cluster + ...``)."""
        number = {c: i for i, c in enumerate(self.clusters)}
        return np.array([4 * number[c] + 2 * ordering + (previous == ENTRANCE)
                         for previous, c, ordering in self.states])

    @functools.cached_property
    def next_state(self) -> np.ndarray:
        """``next_state[s, a]``: the state that move ``a`` from state ``s`` leads to; -1 for
        leaving, or for a move to a state nobody reached (such moves have no probability)."""
        number = {s: i for i, s in enumerate(self.states)}
        order = ~self.followable[:-1]
        return np.array([[number.get((c, a, bool(ordering or order[i])), -1)
                          for i, a in enumerate(self.clusters)] + [-1]
                         for _p, c, ordering in self.states], dtype=np.int64)

    @functools.cached_property
    def first(self) -> np.ndarray:
        """Index of each session's first decision."""
        return np.flatnonzero(self.hit == 1)

    @functools.cached_property
    def last(self) -> np.ndarray:
        """Index of each session's last decision."""
        return np.append(self.first[1:] - 1, len(self.hit) - 1)

    @functools.cached_property
    def rewards(self) -> np.ndarray:
        """The logged rewards of each decision, ``(decisions, len(REWARDS))``."""
        moved = self.action != self.exit
        return np.stack([self.revenue, self.revenue > 0, (self.hit == 1) & ~moved, moved,
                         np.where(moved, self.dwell, 0.0)], axis=1).astype(float)

    @classmethod
    def from_page_views(cls, views: PageViews, clusters: tuple[str, ...],
                        not_followed: set[str]) -> "Decisions":
        """Decisions from recorded page views; a visitor can follow the best-ranked
        recommended cluster that is not in ``not_followed``, and only instead of a move to
        a cluster that is not in it either."""
        if not len(views):
            raise ValueError("no page views in the evaluation part")
        clusters = tuple(clusters) + tuple(sorted(set(views.cluster) - set(clusters)))
        number = {c: i for i, c in enumerate(clusters)}
        followable = np.array([c not in not_followed for c in clusters] + [False])
        order = np.lexsort((np.asarray(views.hit), np.asarray(views.session)))
        column = _sorted_columns(views, order)
        session = np.unique(column["session"], return_inverse=True)[1]
        cluster = np.array([number[c] for c in column["cluster"]], dtype=np.int64)
        last = np.append(session[1:] != session[:-1], True)
        time_s = np.asarray(column["time_ms"], dtype=np.float64) / 1000.0
        revenue = np.asarray(column["revenue"], dtype=np.float64)
        recommended = np.array([number.get(first_followable(items, not_followed), -1)
                                for items in column["recommended"]], dtype=np.int64)
        ordering = _in_order(session, ~followable[cluster])
        seen = list(zip(column["previous"], (clusters[c] for c in cluster), ordering.tolist()))
        states = _states(seen, cluster, recommended, clusters, followable)
        state_number = {s: i for i, s in enumerate(states)}
        hit = np.asarray(column["hit"], dtype=np.int64)
        return cls(
            clusters=clusters, states=states, followable=followable, session=session, hit=hit,
            state=np.array([state_number[s] for s in seen], dtype=np.int64), cluster=cluster,
            action=np.where(last, len(clusters), np.roll(cluster, -1)),
            revenue=np.where(last, 0.0, np.roll(revenue, -1)),
            dwell=np.where(last, 0.0, np.roll(time_s, -1) - time_s),
            recommended=recommended, landing_revenue=revenue[hit == 1])


def _sorted_columns(views: PageViews, order: np.ndarray) -> dict[str, list]:
    return {field.name: [getattr(views, field.name)[i] for i in order]
            for field in dataclasses.fields(views)}


def first_followable(items: tuple[str, ...], not_followed: set[str]) -> str | None:
    """The best-ranked recommended cluster a visitor can follow, None if there is none.

    >>> first_followable(("cart", "bags", "home"), {"cart"}), first_followable(("cart",), {"cart"})
    ('bags', None)
    """
    return next((item for item in items if item not in not_followed), None)


def _in_order(session: np.ndarray, order_page: np.ndarray) -> np.ndarray:
    """Whether the session has viewed an order page up to and including each page view."""
    total = np.cumsum(order_page)
    first = np.flatnonzero(np.append(True, session[1:] != session[:-1]))
    before_session = (total - order_page)[first][session]
    return total - before_session > 0


def _states(seen: list[State], cluster: np.ndarray, recommended: np.ndarray,
            clusters: tuple[str, ...], followable: np.ndarray) -> tuple[State, ...]:
    """The states seen, plus where following a recommendation leads: the recommended
    cluster, after the cluster of the page view, in the same order state."""
    states = set(seen)
    states.update((clusters[c], clusters[r], s[2])
                  for s, c, r in zip(seen, cluster, recommended) if r >= 0)
    return tuple(sorted(states))
