"""A small Markov chain of page clusters whose value under any reaction is known exactly:
sessions drawn from it, recorded as the report's learning pass records them."""

from __future__ import annotations

import numpy as np

from stream.core.learning.features import ENTRANCE
from stream.report.learned import PageViews

CLUSTERS = ("home", "bags", "shop", "cart")
# Next-cluster probabilities (the last column: leaving). "cart" is an order page.
MOVES = np.array([
    [0.20, 0.30, 0.15, 0.05, 0.30],   # home
    [0.30, 0.25, 0.10, 0.05, 0.30],   # bags
    [0.20, 0.10, 0.20, 0.25, 0.25],   # shop
    [0.10, 0.00, 0.00, 0.30, 0.60],   # cart
])
START = np.array([0.7, 0.2, 0.1, 0.0])
BUY = 0.4          # a page view of the cart buys with this probability, for REVENUE
REVENUE = 50.0
DWELL_S = np.array([10.0, 20.0, 40.0, 15.0])  # mean time on each cluster
RECOMMEND = {"home": ("cart", "shop"), "bags": ("shop",), "shop": ("bags",), "cart": ("home",)}
NOT_FOLLOWED = {"cart"}


def sessions(n: int, seed: int) -> PageViews:
    """``n`` sessions drawn from the chain, with the fixed recommendations."""
    rng = np.random.default_rng(seed)
    views = PageViews()
    for number in range(n):
        cluster, previous, time_ms, hit = rng.choice(4, p=START), ENTRANCE, 0, 1
        while True:
            name = CLUSTERS[cluster]
            revenue = REVENUE if name == "cart" and rng.random() < BUY else 0.0
            for column, value in (("session", number), ("event_id", f"{number}-{hit}"),
                                  ("hit", hit), ("previous", previous), ("cluster", name),
                                  ("time_ms", time_ms), ("revenue", revenue),
                                  ("recommended", RECOMMEND[name]), ("source", "river")):
                getattr(views, column).append(value)
            nxt = rng.choice(5, p=MOVES[cluster])
            if nxt == 4:
                break
            time_ms += int(1000 * rng.exponential(DWELL_S[cluster]))
            previous, cluster, hit = name, nxt, hit + 1
    return views


def true_outcomes(rho: float) -> dict[str, float]:
    """Value per session, pages per session and time on page under the reaction, exactly."""
    followable = np.array([c not in NOT_FOLLOWED for c in CLUSTERS] + [False])
    f = np.where(followable, rho, 0.0)
    rec = np.zeros_like(MOVES)
    for i, name in enumerate(CLUSTERS):
        target = next(c for c in RECOMMEND[name] if c not in NOT_FOLLOWED)
        rec[i, CLUSTERS.index(target)] = 1.0
    pi = MOVES * (1 - f) + rec * (MOVES @ f)[:, None]
    p = pi[:, :4]
    visits = np.linalg.solve(np.eye(4) - p.T, START)     # expected visits per cluster
    arrivals_cart = visits[3]
    moves = visits @ (1 - pi[:, 4])
    dwell = visits @ ((1 - pi[:, 4]) * DWELL_S)
    return {"value": arrivals_cart * BUY * REVENUE, "pages": float(visits.sum()),
            "time_on_page": float(dwell / moves)}
