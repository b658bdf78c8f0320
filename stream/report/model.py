"""(a) The model-based counterfactual: an empirical Markov decision process of the
evaluation sessions, solved exactly for the logged behaviour and for the policy.

From the (bootstrap-weighted) decisions the model estimates, per state (previous cluster,
cluster, in the order or not: :mod:`stream.report.decisions`), the logged distribution of
moves ``mu(a | s)`` (the next cluster or leaving); a state seen rarely borrows from its
cluster's, as if ``PRIOR_SESSIONS`` more visits had behaved like all visitors of the
cluster in the same order state (landing there, for a landing page). Rewards on
arrival are the mean revenue (and transaction rate) of page views of the cluster reached;
time on page is the mean of the logged moves between the two clusters.

The **reaction** to a recommendation: a visitor who goes on to another browsing page
follows the recommendation with probability ``rho`` instead of making their own move; a
visitor who leaves is kept by it with probability ``retain`` (0 by default: recommendations
redirect, they do not hold anybody back); a visitor on the way to a page of their own order
(sign-in, cart, checkout: the *not followed* clusters) goes there anyway, and those pages
are never where a recommendation leads. Otherwise the visitor behaves as logged. So

    pi(a | s) = mu(a | s) (1 - share(s) f(a)) + rec(a | s) sum_b mu(b | s) f(b)

with ``f(a)`` = ``rho`` for a followable page, 0 for the others, ``retain`` for leaving,
``rec(a | s)`` the share of the state's page views whose followable recommendation is
``a``, and ``share(s)`` its sum. The expected sums of rewards per session solve
``(I - P_pi) V = r_pi`` exactly: the mean of infinitely many sessions simulated from the
model, with no simulation noise. With ``rho = retain = 0`` the model reproduces the logged
figures (exactly, were it not for the prior).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import sparse
from scipy.sparse import linalg

from stream.report.decisions import Decisions
from stream.report.outcomes import REWARDS, Landing

PRIOR_SESSIONS = 1.0  # pseudo-visits of a state that behave like its cluster's visitors


@dataclasses.dataclass(frozen=True)
class Reaction:
    """How visitors react to a recommendation (see the module docstring).

    >>> Reaction(0.2, retain=0.05).follow(np.array([True, False, False])).tolist()
    [0.2, 0.0, 0.05]
    """

    rho: float
    retain: float = 0.0

    def __post_init__(self):
        for name in ("rho", "retain"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def follow(self, followable: np.ndarray) -> np.ndarray:
        """Probability of following a recommendation instead of each logged move, from
        which moves are ``followable`` (leaving is the last move)."""
        f = np.where(followable, self.rho, 0.0)
        f[-1] = self.retain
        return f


class TransitionModel:
    """The empirical MDP of the decisions, each session counted ``weights[session]`` times."""

    def __init__(self, d: Decisions, weights: np.ndarray):
        self.d = d
        w = weights[d.session]
        n_states, n_actions, n_groups = len(d.states), d.exit + 1, 4 * d.exit
        group = d.state_group
        counts = _counts(d.state, d.action, w, (n_states, n_actions))
        visits = counts.sum(axis=1)
        by_group = _rows_by(group, counts, n_groups)
        prior = PRIOR_SESSIONS * _normalised(by_group, empty=_leave(n_actions))[group]
        self.mu = (counts + prior) / (visits + PRIOR_SESSIONS)[:, None]
        self.observed = _divided(counts, visits)  # the propensities of the off-policy weights
        has = d.recommended >= 0
        recs = _counts(d.state[has], d.recommended[has], w[has], (n_states, n_actions))
        recs_by_group = _rows_by(group, recs, n_groups)
        rec_prior = PRIOR_SESSIONS * _divided(recs_by_group, by_group.sum(axis=1))[group]
        self.rec = (recs + rec_prior) / (visits + PRIOR_SESSIONS)[:, None]
        self.rewards = self._rewards(w)
        landing_weights = weights[d.session[d.first]]
        self.start = np.bincount(d.state[d.first], landing_weights, n_states) / weights.sum()
        self.landing = Landing(value=float(weights @ d.landing_revenue / weights.sum()),
                               transactions=float(weights @ (d.landing_revenue > 0)
                                                  / weights.sum()))

    def policy(self, reaction: Reaction) -> np.ndarray:
        """``pi(a | s)`` for every state and move."""
        f = reaction.follow(self.d.followable)
        kept = self.mu @ f
        share = self.rec.sum(axis=1)
        return self.mu * (1.0 - share[:, None] * f) + self.rec * kept[:, None]

    def solve(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected reward sums per session under ``pi`` (one per reward), and
        ``Q[s, a, reward]``: the expected rewards from making move ``a`` in state ``s``."""
        nxt = self.d.next_state
        n_states = len(nxt)
        moves = nxt >= 0
        rows = np.nonzero(moves)[0]
        # I - P as a sparse matrix: a state has a few tens of successors, not thousands.
        system = sparse.csc_matrix(
            (np.concatenate([np.ones(n_states), -pi[moves]]),
             (np.concatenate([np.arange(n_states), rows]),
              np.concatenate([np.arange(n_states), nxt[moves]]))), shape=(n_states, n_states))
        immediate = np.einsum("sa,sar->sr", pi, self.rewards)
        value = linalg.spsolve(system, immediate).reshape(immediate.shape)
        if not np.isfinite(value).all():
            raise ValueError("the transition model has a loop that no session leaves")
        q = self.rewards + np.where(moves[..., None], value[np.maximum(nxt, 0)], 0.0)
        return self.start @ value, q

    def _rewards(self, w: np.ndarray) -> np.ndarray:
        """``r[s, a, reward]``: rewards of move ``a`` from state ``s`` (see outcomes)."""
        d = self.d
        n_actions = d.exit + 1
        arrivals = np.bincount(d.action, w, n_actions)
        revenue = _divided(np.bincount(d.action, w * d.revenue, n_actions), arrivals)
        transaction = _divided(np.bincount(d.action, w * (d.revenue > 0), n_actions), arrivals)
        dwell = _dwell(d, w)[d.state_group // 4]  # (states, actions)
        landing = np.array([state[0] == d.entrance for state in d.states], dtype=float)
        r = np.zeros((len(d.states), n_actions, len(REWARDS)))
        r[:, :, 0] = revenue
        r[:, :, 1] = transaction
        r[:, -1, 2] = landing
        r[:, :-1, 3] = 1.0
        r[:, :-1, 4] = dwell[:, :-1]
        return r


def _dwell(d: Decisions, w: np.ndarray) -> np.ndarray:
    """Mean time on page of moves from cluster to cluster; the cluster's mean (or the
    overall mean) where that move was not seen."""
    n_clusters, n_actions = d.exit, d.exit + 1
    moves = d.action != d.exit
    cluster, action, weight = d.cluster[moves], d.action[moves], w[moves]
    seconds = weight * d.dwell[moves]
    count = _counts(cluster, action, weight, (n_clusters, n_actions))
    total = _counts(cluster, action, seconds, (n_clusters, n_actions))
    overall = seconds.sum() / weight.sum() if weight.sum() else 0.0
    per_cluster = np.where(count.sum(1) > 0, total.sum(1) / np.maximum(count.sum(1), 1e-300),
                           overall)
    return np.where(count > 0, total / np.maximum(count, 1e-300), per_cluster[:, None])


def _counts(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, shape) -> np.ndarray:
    flat = np.bincount(rows * shape[1] + cols, weights, shape[0] * shape[1])
    return flat.reshape(shape)


def _rows_by(groups: np.ndarray, rows: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups, rows.shape[1]))
    np.add.at(out, groups, rows)
    return out


def _normalised(counts: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Rows divided by their sums; an empty row becomes ``empty``."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), empty)


def _divided(numerator: np.ndarray, denominator) -> np.ndarray:
    denominator = np.asarray(denominator, dtype=float)
    if numerator.ndim > denominator.ndim:
        denominator = denominator[..., None]
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0),
                    0.0)


def _leave(n_actions: int) -> np.ndarray:
    """The move distribution of a cluster nobody visited: nothing is known, so it ends the
    session (no value, no page views: the conservative guess)."""
    leave = np.zeros(n_actions)
    leave[-1] = 1.0
    return leave
