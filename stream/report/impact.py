"""The estimated impact: every estimator, at every ``rho``, with bootstrap intervals.

Sessions are the unit of resampling (page views of one visit are not independent): each
resample draws the evaluation sessions with replacement, and *everything* is re-estimated
on it: the model, the propensities, the weights. A resample is a vector of session counts,
so no data is copied. Intervals are percentile intervals. The uplift of an estimator is
its estimate at ``rho`` minus its own estimate at ``rho = 0``, which is the logged
behaviour (exactly for IPS, SNIPS and DR, up to its prior for the model); the difference
is taken within each resample, so the interval is the uplift's own.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from stream.report.decisions import Decisions
from stream.report.model import Reaction, TransitionModel
from stream.report.offpolicy import ESTIMATORS, estimate
from stream.report.outcomes import METRICS, outcomes

ALL_ESTIMATORS = ("model", *ESTIMATORS)


@dataclasses.dataclass(frozen=True)
class ImpactSettings:
    """What to estimate and how (the ``pagepilot report`` options of the same names)."""

    rhos: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    retain: float = 0.0
    resamples: int = 200
    clip: float | None = None  # None: the square root of the number of sessions
    level: float = 0.95
    seed: int = 7

    def __post_init__(self):
        if not self.rhos or min(self.rhos) != 0.0:
            object.__setattr__(self, "rhos", (0.0, *self.rhos))
        object.__setattr__(self, "rhos", tuple(sorted(set(self.rhos))))
        if self.resamples < 10:
            raise ValueError(f"at least 10 bootstrap resamples are needed, got {self.resamples}")
        if self.clip is not None and self.clip <= 1.0:
            raise ValueError(f"the weight clip must be above 1, got {self.clip}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"the interval level must be in (0, 1), got {self.level}")

    @property
    def reactions(self) -> list[Reaction]:
        return [Reaction(rho, self.retain) for rho in self.rhos]


def estimate_impact(d: Decisions, settings: ImpactSettings, progress=None) -> dict:
    """Estimates with intervals and uplifts of every estimator, metric and rho, as JSON.

    ``progress`` is called with the number of resamples done. Weights are clipped at
    ``settings.clip``, by default at the square root of the number of sessions (Ionides'
    truncated importance sampling: the bias vanishes and the variance stays bounded as
    sessions grow).
    """
    if d.n_sessions < 2:
        raise ValueError("at least two sessions are needed in the evaluation part")
    settings = dataclasses.replace(settings, clip=settings.clip or max(2.0, d.n_sessions ** 0.5))
    ones = np.ones(d.n_sessions)
    point, logged, diagnostics = _estimates(d, ones, settings)
    rng = np.random.default_rng(settings.seed)
    samples, logged_samples = [], []
    for done in range(settings.resamples):
        counts = rng.multinomial(d.n_sessions, ones / d.n_sessions).astype(float)
        estimates, logged_estimate, _ = _estimates(d, counts, settings)
        samples.append(estimates)
        logged_samples.append(logged_estimate)
        if progress is not None:
            progress(done + 1)
    samples, logged_samples = np.array(samples), np.array(logged_samples)
    tails = (1 - settings.level) / 2 * 100, (1 + settings.level) / 2 * 100
    return {
        "rho": list(settings.rhos), "retain": settings.retain, "resamples": settings.resamples,
        "level": settings.level, "clip": settings.clip, "sessions": d.n_sessions,
        "decisions": len(d.state),
        "logged": {m: _interval(logged[k], logged_samples[:, k], tails)
                   for k, m in enumerate(METRICS)},
        "estimates": _tables(point, samples, settings.rhos, tails),
        "weights": [{"rho": rho} | diag for rho, diag in zip(settings.rhos, diagnostics)],
    }


def _estimates(d: Decisions, weights: np.ndarray, settings: ImpactSettings):
    """``[rho, estimator, metric]`` estimates, the logged metrics and weight diagnostics."""
    model = TransitionModel(d, weights)
    logged_rewards = weights[d.session] @ d.rewards / weights.sum()
    logged = _vector(outcomes(logged_rewards, model.landing))
    table, diagnostics = [], []
    for reaction in settings.reactions:
        expected, q = model.solve(model.policy(reaction))
        off, iw = estimate(d, model, reaction, q, weights, settings.clip)
        rows = [expected, *(off[name] for name in ESTIMATORS)]
        table.append([_vector(outcomes(row, model.landing)) for row in rows])
        diagnostics.append({"ess": iw.ess, "clipped": iw.clipped, "mean": iw.mean})
    return np.array(table), logged, diagnostics


def _tables(point: np.ndarray, samples: np.ndarray, rhos, tails) -> dict:
    uplift = point - point[:1]
    uplift_samples = samples - samples[:, :1]
    tables = {}
    for e, name in enumerate(ALL_ESTIMATORS):
        tables[name] = {metric: [
            {"rho": rho} | _interval(point[r, e, k], samples[:, r, e, k], tails)
            | _uplift(_interval(uplift[r, e, k], uplift_samples[:, r, e, k], tails))
            for r, rho in enumerate(rhos)] for k, metric in enumerate(METRICS)}
    return tables


def _uplift(interval: dict) -> dict:
    return {"uplift": interval["estimate"], "uplift_low": interval["low"],
            "uplift_high": interval["high"]}


def _interval(estimate: float, samples: np.ndarray, tails) -> dict:
    low, high = np.nanpercentile(samples, tails) if np.isfinite(samples).any() else (np.nan,) * 2
    return {"estimate": _number(estimate), "low": _number(low), "high": _number(high)}


def _number(x) -> float | None:
    """A JSON number (None for the undefined, e.g. time on page with no moves)."""
    return float(x) if np.isfinite(x) else None


def _vector(metrics: dict) -> np.ndarray:
    return np.array([metrics[m] for m in METRICS])
