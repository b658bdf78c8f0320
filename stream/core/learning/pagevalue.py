"""Page value by the Google Analytics definition, maintained incrementally from the stream.

When a session transacts with revenue ``R``, each *unique* page cluster the session viewed
up to and including the transaction hit is credited ``R``. The page value of a cluster is
its credited revenue divided by its unique pageviews (the number of sessions that viewed
it). A session that transacts twice credits, at each transaction, the clusters it had
viewed up to that transaction.

The state is split as the distributed worker keeps it: :class:`SessionPages` per session
(on the session's partition) says which clusters to count and credit, and
:class:`PageValueStats` per cluster (on the cluster's partition) adds them up.
:class:`PageValueTracker` puts both together for a whole stream in one process.

>>> session = SessionPages()
>>> session, first_view, credited = session.visit("home", revenue=0.0)
>>> session, first_view, credited = session.visit("cart", revenue=25.0)
>>> first_view, credited
(True, ('home', 'cart'))
>>> PageValueStats().viewed().credited_with(25.0).value
25.0
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["PageValueStats", "PageValueTracker", "SessionPages"]


def _check_revenue(revenue: float) -> float:
    revenue = float(revenue)
    if not (revenue >= 0.0 and math.isfinite(revenue)):
        raise ValueError(f"revenue must be a finite number >= 0, got {revenue}")
    return revenue


@dataclasses.dataclass(frozen=True)
class PageValueStats:
    """The unique pageviews and credited revenue of one page cluster; never mutated.

    Examples
    --------
    >>> stats = PageValueStats().viewed().viewed().credited_with(100.0)
    >>> stats, stats.value
    (PageValueStats(unique_views=2, credited=100.0), 50.0)
    """

    unique_views: int = 0
    credited: float = 0.0

    @property
    def value(self) -> float:
        """The page value: credited revenue per unique pageview (0.0 before any view)."""
        return self.credited / self.unique_views if self.unique_views else 0.0

    def viewed(self) -> PageValueStats:
        """With one more unique pageview (a session's first view of the cluster)."""
        return dataclasses.replace(self, unique_views=self.unique_views + 1)

    def credited_with(self, revenue: float) -> PageValueStats:
        """With ``revenue`` more credited (a session that viewed the cluster transacted)."""
        return dataclasses.replace(self, credited=self.credited + _check_revenue(revenue))

    def to_json(self) -> dict:
        return {"unique_views": self.unique_views, "credited": self.credited}

    @classmethod
    def from_json(cls, data: dict | None) -> PageValueStats:
        return cls(int(data["unique_views"]), float(data["credited"])) if data else cls()


@dataclasses.dataclass(frozen=True)
class SessionPages:
    """The page clusters one session has viewed so far, unique, in the order first viewed.

    At most one entry per cluster, so a session's state stays as small as the cluster set.

    Examples
    --------
    >>> pages = SessionPages(("home",))
    >>> pages.visit("home", revenue=0.0)
    (SessionPages(clusters=('home',)), False, ())
    >>> pages.visit("checkout_review", revenue=80.0)
    (SessionPages(clusters=('home', 'checkout_review')), True, ('home', 'checkout_review'))
    """

    clusters: tuple[str, ...] = ()

    def visit(self, cluster: str, revenue: float = 0.0
              ) -> tuple[SessionPages, bool, tuple[str, ...]]:
        """A hit on ``cluster`` carrying ``revenue`` (0 for a plain page view).

        Returns the new session pages, whether this is the session's first view of
        ``cluster`` (one more unique pageview for it), and the clusters to credit with
        ``revenue``: every cluster viewed so far, this one included, when ``revenue > 0``;
        none otherwise. Each transaction of a session credits the pages viewed up to it.
        """
        revenue = _check_revenue(revenue)
        first_view = cluster not in self.clusters
        pages = SessionPages((*self.clusters, cluster)) if first_view else self
        return pages, first_view, (pages.clusters if revenue > 0.0 else ())

    def to_json(self) -> list[str]:
        return list(self.clusters)

    @classmethod
    def from_json(cls, data: list | None) -> SessionPages:
        return cls(tuple(data)) if data else cls()


class PageValueTracker:
    """Page value of every cluster over a whole stream of sessions, in one process.

    Feed it every hit with :meth:`learn_one` and close sessions with :meth:`end_session`,
    which frees their memory (a hit after that starts the session afresh).

    Examples
    --------
    The textbook example: session 1 views A, B, C, then D with a $100 transaction;
    session 2 views A and B and leaves.

    >>> tracker = PageValueTracker()
    >>> for cluster, revenue in [("A", 0), ("B", 0), ("C", 0), ("D", 100.0)]:
    ...     tracker.learn_one("session-1", cluster, revenue)
    >>> for cluster in ["A", "B"]:
    ...     tracker.learn_one("session-2", cluster)
    >>> tracker.end_session("session-1"); tracker.end_session("session-2")
    >>> tracker.values()
    {'A': 50.0, 'B': 50.0, 'C': 100.0, 'D': 100.0}
    >>> tracker.predict_one("A"), tracker.predict_one("never seen"), tracker.open_sessions
    (50.0, 0.0, 0)
    """

    def __init__(self):
        self._stats: dict[str, PageValueStats] = {}
        self._sessions: dict[str, SessionPages] = {}

    def learn_one(self, session_id: str, cluster: str, revenue: float = 0.0) -> None:
        """One hit of ``session_id`` on ``cluster``, carrying ``revenue`` (0: a page view)."""
        pages, first_view, credited = self._sessions.get(session_id, SessionPages()).visit(
            cluster, revenue)
        self._sessions[session_id] = pages
        if first_view:
            self._stats[cluster] = self.stats(cluster).viewed()
        for credited_cluster in credited:
            self._stats[credited_cluster] = self.stats(credited_cluster).credited_with(revenue)

    def end_session(self, session_id: str) -> None:
        """Forget a finished session (unknown ids are ignored)."""
        self._sessions.pop(session_id, None)

    def stats(self, cluster: str) -> PageValueStats:
        """The unique pageviews and credited revenue of ``cluster`` (empty when unseen)."""
        return self._stats.get(cluster, PageValueStats())

    def predict_one(self, cluster: str) -> float:
        """The page value of ``cluster``; 0.0 for a cluster never viewed."""
        return self.stats(cluster).value

    def values(self) -> dict[str, float]:
        """The page value of every cluster viewed so far."""
        return {cluster: stats.value for cluster, stats in self._stats.items()}

    @property
    def open_sessions(self) -> int:
        """The number of sessions seen and not yet ended."""
        return len(self._sessions)

    def __repr__(self) -> str:
        return (f"PageValueTracker({len(self._stats)} clusters, "
                f"{self.open_sessions} open sessions)")
