"""(b) Off-policy estimators: the logged sessions reweighted to the policy's behaviour.

No recommendation was shown while the sessions were logged, so the logging policy is the
visitors' own behaviour, and its propensities ``mu(a | s)`` are *estimated*: the observed
frequencies of the moves from each state (:mod:`stream.report.model`), so that in every
state the weights of the logged page views add up to their number. The target policy is the same
reaction model, per page view with its own recommendation ``r``:
``pi(a | x) = mu(a | s) (1 - f(a)) + [a = r] sum_b mu(b | s) f(b)``, so a decision's weight
``pi / mu`` is ``1 - f(a)`` for a move the policy would not have made (1 for leaving and
for moves into the visitor's order) and grows by ``sum_b mu(b|s) f(b) / mu(r | s)`` where
the visitor did what was recommended.

All three are **per-decision** (Precup et al. 2000): the rewards of step ``t`` are weighted
by the product of the weights up to ``t`` only, since later moves cannot change them; the
trajectory-wise product has the same mean and far more variance. Cumulative weights are
clipped at ``clip`` (a small bias for a bounded variance); the share of sessions clipped and
the effective sample size of the session weights are reported beside the estimates.

- **IPS**: ``1/n sum_i sum_t rho_it r_it``.
- **SNIPS**: the weighted (self-normalised) per-decision estimator: the rewards of step
  ``t`` divided by the sum of the weights at ``t`` (ended sessions keep their last weight).
- **DR**: per-decision doubly robust (Jiang & Li 2016), with the model of (a) as the direct
  method: ``1/n sum_i sum_t [rho_it (r_it - Q(s_t, a_t)) + rho_i,t-1 V(x_t)]``, unbiased if
  either the propensities or the model are right.

Moves the logged visitors never made from a state cannot be seen by IPS and SNIPS; DR and
the model still account for them. The weights of a session multiply over its page views,
so those of long sessions (buyers browse long) collapse towards 0 except for rare, huge
ones the sample may not hold: the *mean session weight* (1 in expectation) shows how much
of that mass the sample carries, beside the effective sample size.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from stream.report.decisions import Decisions
from stream.report.model import Reaction, TransitionModel

ESTIMATORS = ("ips", "snips", "dr")


@dataclasses.dataclass(frozen=True)
class Weights:
    """Per-decision cumulative weights up to and including (``rho``) and before
    (``before``) each decision, clipped; and the diagnostics."""

    rho: np.ndarray
    before: np.ndarray
    ess: float       # effective sample size of the session weights, as a share of sessions
    clipped: float   # share of sessions whose weight reached the clip
    mean: float      # mean session weight: 1 in expectation; less is mass no session carries

    @classmethod
    def of(cls, d: Decisions, model: TransitionModel, reaction: Reaction, clip: float,
           weights: np.ndarray) -> "Weights":
        log_w = np.log(_decision_weights(d, model, reaction))
        total = np.cumsum(log_w)
        cumulative = total - (total - log_w)[d.first][d.session]  # restart at each session
        ceiling = np.log(clip)
        rho = np.exp(np.minimum(cumulative, ceiling))
        before = np.exp(np.minimum(cumulative - log_w, ceiling))
        final = rho[d.last]
        reached = np.maximum.reduceat(cumulative, d.first) >= ceiling
        n = weights.sum()
        ess = (weights @ final) ** 2 / (weights @ final ** 2) / n
        return cls(rho=rho, before=before, ess=float(ess), clipped=float(weights @ reached / n),
                   mean=float(weights @ final / n))


def estimate(d: Decisions, model: TransitionModel, reaction: Reaction, q: np.ndarray,
             weights: np.ndarray, clip: float) -> tuple[dict[str, np.ndarray], Weights]:
    """Expected reward sums per session by each estimator, and the weights used.

    ``q`` is the model's ``Q[s, a, reward]`` under the same reaction (for DR); ``weights``
    counts each session (1 everywhere, or a bootstrap resample).
    """
    iw = Weights.of(d, model, reaction, clip, weights)
    c = weights[d.session][:, None]
    n = weights.sum()
    r = d.rewards
    normalised = iw.rho * n / _step_totals(d, iw, c[:, 0], weights)[d.hit]
    return {"ips": (c * iw.rho[:, None] * r).sum(axis=0) / n,
            "snips": (c * normalised[:, None] * r).sum(axis=0) / n,
            "dr": _doubly_robust(d, model, reaction, q, iw, c) / n}, iw


def _decision_weights(d: Decisions, model: TransitionModel, reaction: Reaction) -> np.ndarray:
    """``pi(a | x) / mu(a | s)`` of each decision; 1 where it does not count (no
    recommendation, or a session left out of this resample, whose moves may have mu 0)."""
    f = reaction.follow(d.followable)
    kept = model.observed @ f
    mu = model.observed[d.state, d.action]
    followed = (d.action == d.recommended) & (mu > 0)
    w = 1.0 - f[d.action] + np.where(followed, kept[d.state] / np.where(followed, mu, 1.0), 0.0)
    return np.where((d.recommended >= 0) & (mu > 0), w, 1.0)


def _step_totals(d: Decisions, iw: Weights, c: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per step (hit number), the sum of every session's weight at that step: an ended
    session counts with its last weight; step 0 (before the landing page) is ``n``."""
    steps = d.hit.max() + 1
    at_step = np.bincount(d.hit, c * iw.rho, steps)
    ended = np.bincount(d.hit[d.last] + 1, weights[d.session[d.last]] * iw.rho[d.last],
                        steps + 1)
    totals = at_step + np.cumsum(ended)[:steps]
    totals[0] = weights.sum()
    return totals


def _doubly_robust(d: Decisions, model: TransitionModel, reaction: Reaction, q: np.ndarray,
                   iw: Weights, c: np.ndarray) -> np.ndarray:
    f = reaction.follow(d.followable)
    mu = model.observed
    kept = mu @ f
    stay = np.einsum("sa,sar->sr", mu * (1.0 - f), q)   # V without a recommendation
    logged = np.einsum("sa,sar->sr", mu, q)
    has = (d.recommended >= 0)[:, None]
    q_rec = q[d.state, np.maximum(d.recommended, 0)]
    v = np.where(has, stay[d.state] + kept[d.state][:, None] * q_rec, logged[d.state])
    q_taken = q[d.state, d.action]
    terms = iw.rho[:, None] * (d.rewards - q_taken) + iw.before[:, None] * v
    return (c * terms).sum(axis=0)
