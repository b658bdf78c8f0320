"""A seeded generator of Google-Merchandise-Store-like sessions, for the demo and the tests.

Sessions start as a Poisson process; each is planned (bounce or not, how deep into the
checkout it goes), browsed as a walk over page clusters (``producers.gstore``) and ends in
the checkout funnel it was planned to reach, the order confirmation carrying the revenue.
Same seed, same events; nothing is kept but the sessions still open.

>>> views = list(generate(3, seed=1))
>>> len({view.session_id for view in views})
3
>>> views == list(generate(3, seed=1))
True
"""

from __future__ import annotations

import bisect
import dataclasses
import gzip
import heapq
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from producers import gstore, writers
from producers.gstore import Page
from stream.core.models import PageView

START_MS = 1_501_545_600_000  # 2017-08-01 00:00 UTC, the GA sample's first day
SESSIONS_PER_HOUR = 70.0  # the sample's 1,711 sessions a day
SAMPLE_FORMATS = ("pagepilot", "ga360", "csv")


class _Weighted:
    """Items with weights, drawn with one uniform number (much cheaper than ``rng.choice``)."""

    def __init__(self, weights: dict):
        self.items = tuple(weights)
        total = sum(weights.values())
        self._cumulative = list(itertools.accumulate(w / total for w in weights.values()))

    def draw(self, rng: np.random.Generator):
        index = bisect.bisect_right(self._cumulative, rng.random())
        return self.items[min(index, len(self.items) - 1)]


def _moves(cluster: str) -> dict:
    """Weights of the clusters a visitor on ``cluster`` goes to next."""
    if cluster == "home":
        return gstore.FROM_HOME
    if cluster in gstore.CATEGORY_STAY:
        stay = gstore.CATEGORY_STAY[cluster]
        leave = {k: w for k, w in gstore.LEAVE_CATEGORY.items() if k != cluster}
        total = sum(leave.values())
        return {cluster: stay, **{k: (1 - stay) * w / total for k, w in leave.items()}}
    return gstore.OTHER_MOVES[cluster]


_MOVES = {cluster: _Weighted(_moves(cluster)) for cluster in gstore.BROWSE_CLUSTERS}
_LANDING = _Weighted(gstore.LANDING)
_BOUNCE_LANDING = _Weighted(gstore.BOUNCE_LANDING)
_DEPTH = _Weighted(gstore.FUNNEL_DEPTH)
_BESTSELLERS = _Weighted(dict.fromkeys(gstore.BESTSELLERS, 1.0))
_CONTEXT = {"channel": _Weighted(gstore.CHANNELS), "device": _Weighted(gstore.DEVICES),
            "country": _Weighted(gstore.COUNTRIES)}
_CHECKOUT = ("checkout_your_info", "checkout_payment", "checkout_review",
             "checkout_confirmation")
# Mean hits on a checkout page before moving on: carts are edited, payment forms retried.
_CHECKOUT_HITS = {"cart": 2.2, "signin": 1.5, "checkout_your_info": 1.5,
                  "checkout_payment": 2.4, "checkout_review": 1.2, "checkout_confirmation": 1.0}
_CONFIRMATION = gstore.PAGES["checkout_confirmation"][0]


@dataclasses.dataclass(frozen=True)
class PlantedPath:
    """A high-value path planted in the sessions, to check that the impact report finds it.

    A visitor who moves from cluster ``source`` to cluster ``target`` while browsing stops
    browsing there with probability ``conversion`` and goes through the whole checkout (a
    purchase). Nothing else changes: how often visitors take that move is as before.

    Examples
    --------
    >>> PlantedPath.parse("home>office:0.4")
    PlantedPath(source='home', target='office', conversion=0.4)
    >>> PlantedPath.parse("home>cart")
    Traceback (most recent call last):
    ...
    ValueError: a planted path must join two browsing clusters, got 'home>cart'
    """

    source: str = "home"
    target: str = "office"
    conversion: float = 0.6

    def __post_init__(self):
        if (self.source == self.target or self.source not in gstore.BROWSE_CLUSTERS
                or self.target not in gstore.BROWSE_CLUSTERS):
            raise ValueError(f"a planted path must join two browsing clusters, "
                             f"got '{self.source}>{self.target}'")
        if not 0.0 < self.conversion <= 1.0:
            raise ValueError(f"conversion must be in (0, 1], got {self.conversion}")

    @classmethod
    def parse(cls, text: str) -> "PlantedPath":
        """``SOURCE>TARGET`` or ``SOURCE>TARGET:CONVERSION``."""
        path, _, conversion = text.partition(":")
        source, _, target = path.partition(">")
        try:
            rate = float(conversion) if conversion else cls.conversion
        except ValueError:
            raise ValueError(f"conversion must be a number, got {conversion!r}") from None
        return cls(source.strip(), target.strip(), rate)

    def converts(self, rng: np.random.Generator, cluster: str, target: str) -> bool:
        """Whether this move (from ``cluster`` to ``target``) ends in a purchase."""
        return cluster == self.source and target == self.target and rng.random() < self.conversion


def generate(n_sessions: int, seed: int = 7, start_ms: int = START_MS,
             sessions_per_hour: float = SESSIONS_PER_HOUR,
             plant: PlantedPath | None = None) -> Iterator[PageView]:
    """Page views of ``n_sessions`` GStore-like sessions, in event-time order.

    Parameters
    ----------
    n_sessions
        How many sessions to generate.
    seed
        Seed of the ``numpy.random.Generator``: the same seed gives the same events.
    start_ms
        Event time (epoch milliseconds) of the first session's start.
    sessions_per_hour
        Rate of the Poisson process of session starts.
    plant
        A high-value path to plant (None: the GStore-like sessions as they are).

    Examples
    --------
    >>> times = [view.timestamp for view in generate(50)]
    >>> times == sorted(times) and times[0] >= START_MS
    True
    """
    # Sessions start in order but overlap: hold the open ones' hits in a heap and release
    # every hit that comes before the next session's start.
    heap: list = []
    for number, session in enumerate(sessions(n_sessions, seed, start_ms, sessions_per_hour,
                                              plant)):
        while heap and heap[0][0] <= session[0].timestamp:
            yield heapq.heappop(heap)[-1]
        for view in session:
            heapq.heappush(heap, (view.timestamp, number, view.hit_number, view))
    while heap:
        yield heapq.heappop(heap)[-1]


def sessions(n_sessions: int, seed: int = 7, start_ms: int = START_MS,
             sessions_per_hour: float = SESSIONS_PER_HOUR,
             plant: PlantedPath | None = None) -> Iterator[list[PageView]]:
    """The same sessions as :func:`generate`, one list of hits each, in order of start.

    Examples
    --------
    >>> first = next(sessions(1, seed=3))
    >>> first[0].event_id == f"{first[0].session_id}-1"
    True
    """
    if sessions_per_hour <= 0:
        raise ValueError(f"sessions_per_hour must be positive, got {sessions_per_hour}")
    rng = np.random.default_rng(seed)
    clock_s = math.ceil(start_ms / 1000)
    for _ in range(n_sessions):
        yield _session(rng, int(clock_s), plant)
        clock_s += rng.exponential(3600 / sessions_per_hour)


def write_sample(path: str | Path, n_sessions: int, seed: int = 7,
                 fmt: str = "pagepilot", plant: PlantedPath | None = None) -> int:
    """Write generated sessions to a file in a format the loaders read; return the event count.

    ``pagepilot`` and ``csv`` files are in event-time order, ``ga360`` has one session per
    line in order of start. A path ending in ``.gz`` is gzipped.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> write_sample(pathlib.Path(tempfile.mkdtemp()) / "s.csv", 5, fmt="csv") > 5
    True
    """
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {SAMPLE_FORMATS}")
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as file:
        if fmt == "ga360":
            return writers.write_ga360(file, sessions(n_sessions, seed, plant=plant))
        write = writers.write_csv if fmt == "csv" else writers.write_pagepilot
        return write(file, generate(n_sessions, seed, plant=plant))


def _session(rng: np.random.Generator, start_s: int,
             plant: PlantedPath | None = None) -> list[PageView]:
    visitor = str(rng.integers(10**18, 10**19 - 1, dtype=np.uint64))
    session_id = f"{visitor}-{start_s}"  # GA360's fullVisitorId-visitId; visitId = start
    context = {name: weighted.draw(rng) for name, weighted in _CONTEXT.items()}
    hits = _hits(rng, plant)
    views, time_ms = [], start_s * 1000
    for number, (page, revenue) in enumerate(hits, 1):
        if number > 1:
            time_ms += _dwell_ms(rng, repeat=page == hits[number - 2][0])
        views.append(PageView(
            event_id=f"{session_id}-{number}", session_id=session_id, visitor_id=visitor,
            timestamp=time_ms, page_path=page.path, page_title=page.title,
            hit_type="TRANSACTION" if revenue else "PAGE", revenue=revenue,
            hit_number=number, **context))
    return views


def _hits(rng: np.random.Generator,
          plant: PlantedPath | None = None) -> list[tuple[Page, float]]:
    """The pages of one session, each with the revenue it carries."""
    if rng.random() < gstore.BOUNCE_RATE:
        return [(_enter(rng, _BOUNCE_LANDING.draw(rng), None)[0], 0.0)]
    depth = _DEPTH.draw(rng)
    browsed = 1 + int(rng.lognormal(math.log(gstore.BROWSE_MEDIAN), gstore.BROWSE_SIGMA))
    # A session that never reaches the cart needs a second page, or it would be a bounce.
    browsed = min(max(browsed, 2 if depth == "none" else 1), gstore.MAX_BROWSE)
    pages, converted = _browse(rng, browsed, plant)
    if converted:
        depth = "checkout_confirmation"
    if depth != "none":
        pages += _checkout(rng, depth)
    revenue = _revenue(rng) if depth == "checkout_confirmation" else 0.0
    return [(page, revenue if page == _CONFIRMATION else 0.0) for page in pages]


def _browse(rng: np.random.Generator, count: int,
            plant: PlantedPath | None = None) -> tuple[list[Page], bool]:
    """A walk of ``count`` pages over the browsing clusters, from a landing page, and
    whether it took the planted path (which ends the walk in a purchase)."""
    cluster = _LANDING.draw(rng)
    page, listed_in = _enter(rng, cluster, None)
    pages = [page]
    while len(pages) < count:
        target = _MOVES[cluster].draw(rng)
        target = listed_in if target == "category" else target
        if target == cluster and rng.random() < gstore.SAME_PAGE:
            pages.append(page)
            continue
        page, listed_in = _enter(rng, target, listed_in if target == cluster else cluster)
        pages.append(page)
        if plant is not None and plant.converts(rng, cluster, target):
            return pages, True
        cluster = target
    return pages, False


def _enter(rng: np.random.Generator, cluster: str, came_from: str | None) -> tuple[Page, str]:
    """A page of ``cluster`` and, for a product page, the category it is listed in."""
    if cluster == "product":
        listed_in = came_from if came_from in gstore.PRODUCTS else _BESTSELLERS.draw(rng)
        products = gstore.PRODUCTS[listed_in]
        return products[int(rng.integers(len(products)))], listed_in
    pages = gstore.PAGES[cluster]
    # Half the visits go to the cluster's main page (men's T-shirts, not outerwear).
    if len(pages) == 1 or rng.random() < .5:
        return pages[0], cluster
    return pages[int(rng.integers(1, len(pages)))], cluster


def _checkout(rng: np.random.Generator, depth: str) -> list[Page]:
    """Cart, then the checkout steps up to ``depth``, then perhaps a last look at Home."""
    pages = _repeated(rng, "cart")
    if depth == "cart":
        return pages + _maybe_home(rng)
    if rng.random() < gstore.SIGNIN_IN_CHECKOUT:
        pages += _repeated(rng, "signin")
    for step in _CHECKOUT[: _CHECKOUT.index(depth) + 1]:
        # Buyers with saved details skip "your information" on their way to payment.
        if step == "checkout_your_info" != depth and rng.random() > gstore.YOUR_INFO_SHARE:
            continue
        pages += _repeated(rng, step)
    return pages + _maybe_home(rng)


def _repeated(rng: np.random.Generator, cluster: str) -> list[Page]:
    """A checkout page seen one or more times (geometric, with the cluster's mean)."""
    return [gstore.PAGES[cluster][0]] * int(rng.geometric(1 / _CHECKOUT_HITS[cluster]))


def _maybe_home(rng: np.random.Generator) -> list[Page]:
    return [gstore.PAGES["home"][0]] if rng.random() < .3 else []


def _dwell_ms(rng: np.random.Generator, repeat: bool) -> int:
    median = gstore.REPEAT_DWELL_MEDIAN_S if repeat else gstore.DWELL_MEDIAN_S
    seconds = rng.lognormal(math.log(median), gstore.DWELL_SIGMA)
    return int(1000 * min(max(seconds, 1.0), gstore.MAX_DWELL_S))


def _revenue(rng: np.random.Generator) -> float:
    return round(float(rng.lognormal(math.log(gstore.REVENUE_MEDIAN), gstore.REVENUE_SIGMA)), 2)
