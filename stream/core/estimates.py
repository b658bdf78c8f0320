"""Live figures of an experiment from its outcomes (:mod:`stream.core.outcomes`).

Everything is kept as sums (counts, sums, sums of squares and products), so the tallies of
several workers, or of the buckets of a sliding window, add up exactly; :func:`figures`
turns a tally into estimates with 95 % normal-approximation intervals.

**Per served variant** (A/B/n): served HR@k (the next page was recommended), followed
value (revenue in the rest of the session after a followed recommendation, per page view),
value per session (its revenue) and conversion (sessions with revenue).

**Per target variant, off-policy** (every variant and shadow, from the page views of the
*exploring* variants, those with ``epsilon > 0``): the target's own list ``T`` at each such
page view is in the record, and every item ``a`` of it carries ``p(a)``, the probability
that the logging variant shows it. With ``r(a)`` the reward of showing ``a`` (1 if the
visitor went there next; for the value, that times the revenue after) and ``S`` the shown
list, per page view:

    ips  = sum over a in T and S of r(a) / p(a)
    w    = (1 / |T|) sum over a in T and S of 1 / p(a)          (mean 1 where p > 0)
    dr   = sum over a in T of r^(a) + [a in S] (r(a) - r^(a)) / p(a)

IPS is their mean, SNIPS ``sum(ips) / sum(w)``, DR the mean of ``dr`` (the reward model
``r^`` is the cluster's Markov probability of ``a``, times its Q-value for the value),
and the effective sample size ``sum(w)^2 / sum(w^2)``. An item the logging variant never
shows (``p = 0``: not among its candidates) is seen by DR's model only: the target's
``support`` is the share of its items with ``p > 0``. The rewards are additive over the
items (the item-position model of Li et al. 2018: a visitor's reaction to an item does
not depend on what else is shown); docs/experiments.md says what each estimator assumes.

>>> tally = Tally()
>>> for followed in (True, False, True, True):
...     tally.add({"variant": "a", "epsilon": 0.0, "next": "bags" if followed else "home",
...                "items": [{"cluster": "bags", "propensity": 1.0}], "followed": followed,
...                "revenue_after": 0.0, "opens_session": True, "session_revenue": 0.0,
...                "counterfactuals": {}, "expected": {}})
>>> figures(tally.sums)["variants"]["a"]["hit_rate"]["mean"]
0.75
"""

from __future__ import annotations

import math

Z = 1.959964  # two-sided 95 %
REWARDS = ("hit", "value")  # off-policy: went to the item next; that times revenue after


class Tally:
    """Additive sums of outcomes: ``sums`` is plain JSON (nested dicts of numbers)."""

    def __init__(self, sums: dict | None = None):
        self.sums = sums if sums is not None else {"variants": {}, "offpolicy": {}}

    def add(self, outcome: dict) -> None:
        """Count one outcome: in its variant's arm, and off-policy for every target in its
        record when its variant explores."""
        arm = self.sums["variants"].setdefault(outcome["variant"], {})
        followed = float(outcome["followed"])
        _moments(arm, "hit_rate", followed)
        _moments(arm, "followed_value", followed * outcome["revenue_after"])
        if outcome["opens_session"]:
            _moments(arm, "value_per_session", outcome["session_revenue"])
            _moments(arm, "conversion", float(outcome["session_revenue"] > 0))
        if outcome["epsilon"] > 0:
            for target, items in outcome["counterfactuals"].items():
                self._offpolicy(target, items, outcome)

    def _offpolicy(self, target: str, items: list[dict], outcome: dict) -> None:
        into = self.sums["offpolicy"].setdefault(target, {})
        shown = {item["cluster"] for item in outcome["items"]}
        went, after = outcome["next"], outcome["revenue_after"]
        supported = [item for item in items if item["logging_propensity"] > 0]
        _moments(into, "support", len(supported) / len(items) if items else 1.0)
        weight = (sum(1 / item["logging_propensity"] for item in supported
                      if item["cluster"] in shown) / len(items)) if items else 1.0
        for reward in REWARDS:
            ips = dr = 0.0
            for item in items:
                a, p = item["cluster"], item["logging_propensity"]
                r = float(went == a) * (after if reward == "value" else 1.0)
                probability, q = outcome["expected"].get(a, (0.0, 0.0))
                model = probability * (q if reward == "value" else 1.0)
                seen = a in shown and p > 0
                ips += r / p if seen else 0.0
                dr += model + ((r - model) / p if seen else 0.0)
            _ratio(into.setdefault(reward, {}), ips, weight, dr)


def merged(tallies) -> dict:
    """The sum of several tallies' ``sums`` (workers, or window buckets)."""
    total: dict = {}
    for sums in tallies:
        _add_into(total, sums)
    return total or {"variants": {}, "offpolicy": {}}


def figures(sums: dict, control: str | None = None) -> dict:
    """Estimates with intervals from a tally's sums: per served variant its means (and,
    beside the ``control`` variant, their difference to it); per target its off-policy
    estimates."""
    variants = {name: {metric: _mean(m) for metric, m in sorted(arm.items())}
                for name, arm in sorted(sums.get("variants", {}).items())}
    base = sums.get("variants", {}).get(control)
    if base is not None:
        for name, arm in sums["variants"].items():
            if name != control:
                variants[name]["vs_control"] = {
                    metric: _difference(m, base[metric])
                    for metric, m in sorted(arm.items()) if metric in base}
    offpolicy = {}
    for target, parts in sorted(sums.get("offpolicy", {}).items()):
        offpolicy[target] = {"support": _mean(parts["support"])["mean"]}
        for reward in REWARDS:
            if reward in parts:
                offpolicy[target][reward] = _estimators(parts[reward])
    return {"variants": variants, "offpolicy": offpolicy}


def significant(interval: dict) -> bool:
    """True when a difference's interval excludes zero."""
    return interval["low"] is not None and (interval["low"] > 0 or interval["high"] < 0)


def _moments(into: dict, name: str, x: float) -> None:
    m = into.setdefault(name, {"n": 0, "s": 0.0, "ss": 0.0})
    m["n"] += 1
    m["s"] += x
    m["ss"] += x * x


def _ratio(into: dict, ips: float, weight: float, dr: float) -> None:
    for key, x in (("n", 1), ("ips", ips), ("ips2", ips * ips), ("w", weight),
                   ("w2", weight * weight), ("ipsw", ips * weight), ("dr", dr),
                   ("dr2", dr * dr)):
        into[key] = into.get(key, 0) + x


def _add_into(total: dict, sums: dict) -> None:
    for key, value in sums.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _mean(m: dict) -> dict:
    """Mean, its standard error and 95 % interval of the moments ``m``."""
    n = m["n"]
    if not n:
        return {"n": 0, "mean": None, "se": None, "low": None, "high": None}
    mean = m["s"] / n
    se = math.sqrt(max(m["ss"] / n - mean * mean, 0.0) / n) if n > 1 else None
    return _interval(n, mean, se)


def _difference(m: dict, base: dict) -> dict:
    a, b = _mean(m), _mean(base)
    if a["se"] is None or b["se"] is None:
        return {"mean": None, "low": None, "high": None}
    mean, se = a["mean"] - b["mean"], math.hypot(a["se"], b["se"])
    return {"mean": round(mean, 6), "low": round(mean - Z * se, 6),
            "high": round(mean + Z * se, 6)}


def _estimators(r: dict) -> dict:
    """IPS, SNIPS (delta-method interval) and DR, and the effective sample size."""
    n = r["n"]
    ips = _mean({"n": n, "s": r["ips"], "ss": r["ips2"]})
    dr = _mean({"n": n, "s": r["dr"], "ss": r["dr2"]})
    snips = {"n": n, "mean": None, "se": None, "low": None, "high": None}
    if r["w"] > 0:
        ratio = r["ips"] / r["w"]
        spread = (r["ips2"] - 2 * ratio * r["ipsw"] + ratio * ratio * r["w2"]) / n
        se = math.sqrt(max(spread, 0.0) / n) / (r["w"] / n) if n > 1 else None
        snips = _interval(n, ratio, se)
    ess = r["w"] ** 2 / r["w2"] if r["w2"] > 0 else 0.0
    return {"ips": ips, "snips": snips, "dr": dr, "ess": round(ess, 1),
            "mean_weight": round(r["w"] / n, 4) if n else None}


def _interval(n: int, mean: float, se: float | None) -> dict:
    if se is None:
        return {"n": n, "mean": round(mean, 6), "se": None, "low": None, "high": None}
    return {"n": n, "mean": round(mean, 6), "se": round(se, 6),
            "low": round(mean - Z * se, 6), "high": round(mean + Z * se, 6)}


class WindowedTally:
    """A tally in total and over the last ``window_s`` seconds (buckets of a tenth of it,
    so the window is exact to a bucket)."""

    def __init__(self, window_s: float, clock):
        self.window_s, self.clock = window_s, clock
        self.total = Tally()
        self._buckets: list[tuple[float, Tally]] = []  # (start time, tally), oldest first

    def add(self, outcome: dict) -> None:
        self.total.add(outcome)
        now, width = self.clock(), self.window_s / 10
        if not self._buckets or now - self._buckets[-1][0] >= width:
            self._buckets.append((now, Tally()))
        self._buckets[-1][1].add(outcome)

    def window(self) -> dict:
        """The sums of the outcomes added in the last ``window_s`` seconds."""
        since = self.clock() - self.window_s
        self._buckets = [(start, t) for start, t in self._buckets if start > since]
        return merged(t.sums for _start, t in self._buckets)
