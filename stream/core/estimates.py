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

**Intervals are clustered by session.** A session is assigned to its arm whole, and its
page views resemble each other (on the NASA log the Markov policy's HR@3 was 0.180 on its
own arm's sessions and 0.130 on the exploring arm's, four page-view standard errors
apart), so every figure is a ratio of per-session sums ``y_s / x_s`` (hits over page
views, IPS terms over page views, IPS terms over weights for SNIPS) and its variance is
the delta method's over sessions: ``sum (y_s - R x_s)^2 / (sum x_s)^2 * k / (k - 1)`` for
``k`` sessions.

>>> tally = Tally()
>>> tally.add_session([{"variant": "a", "epsilon": 0.0, "next": went,
...                     "items": [{"cluster": "bags", "propensity": 1.0}],
...                     "followed": went == "bags", "revenue_after": 0.0,
...                     "opens_session": i == 0, "session_revenue": 0.0,
...                     "counterfactuals": {}, "expected": {}}
...                    for i, went in enumerate(["bags", "home", "bags", "bags"])])
>>> figures(tally.sums)["variants"]["a"]["hit_rate"]["mean"]
0.75
"""

from __future__ import annotations

import math

Z = 1.959964  # two-sided 95 %
REWARDS = ("hit", "value")  # off-policy: went to the item next; that times revenue after
SHARES = ("hit_rate", "conversion")  # means of 0/1: their error is never below a binomial's


class Tally:
    """Additive sums of sessions' outcomes: ``sums`` is plain JSON (nested dicts of
    numbers)."""

    def __init__(self, sums: dict | None = None):
        self.sums = sums if sums is not None else {"variants": {}, "offpolicy": {}}

    def add_session(self, outcomes: list[dict]) -> None:
        """Count the outcomes of one ended session (one variant served it): in its arm,
        and off-policy for every target its records carry when its variant explores."""
        if not outcomes:
            return
        arm = self.sums["variants"].setdefault(outcomes[0]["variant"], {})
        followed = [float(o["followed"]) for o in outcomes]
        first = next((o for o in outcomes if o["opens_session"]), outcomes[0])
        _ratio(arm, "hit_rate", sum(followed), len(outcomes))
        _ratio(arm, "followed_value",
               sum(f * o["revenue_after"] for f, o in zip(followed, outcomes)), len(outcomes))
        _ratio(arm, "value_per_session", first["session_revenue"], 1)
        _ratio(arm, "conversion", float(first["session_revenue"] > 0), 1)
        exploring = [o for o in outcomes if o["epsilon"] > 0]
        targets = sorted({t for o in exploring for t in o["counterfactuals"]})
        for target in targets:
            self._offpolicy(target, [o for o in exploring if target in o["counterfactuals"]])

    def _offpolicy(self, target: str, outcomes: list[dict]) -> None:
        into = self.sums["offpolicy"].setdefault(target, {})
        terms = [_terms(o["counterfactuals"][target], o) for o in outcomes]
        n = len(terms)
        _ratio(into, "support", sum(t["support"] for t in terms), n)
        for reward in REWARDS:
            part = into.setdefault(reward, {})
            ips = sum(t[reward][0] for t in terms)
            weight = sum(t["weight"] for t in terms)
            _ratio(part, "ips", ips, n)
            _ratio(part, "snips", ips, weight)
            _ratio(part, "dr", sum(t[reward][1] for t in terms), n)
            part["weights"] = part.get("weights", 0) + weight  # page-view level, for ESS
            part["weights2"] = part.get("weights2", 0) + sum(t["weight"] ** 2 for t in terms)


def _terms(items: list[dict], outcome: dict) -> dict:
    """One exploring page view's IPS and DR terms per reward, its weight and support."""
    shown = {item["cluster"] for item in outcome["items"]}
    went, after = outcome["next"], outcome["revenue_after"]
    supported = [item for item in items if item["logging_propensity"] > 0]
    terms = {"support": len(supported) / len(items) if items else 1.0,
             "weight": (sum(1 / item["logging_propensity"] for item in supported
                            if item["cluster"] in shown) / len(items)) if items else 1.0}
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
        terms[reward] = (ips, dr)
    return terms


def sessions_of(outcomes) -> list[list[dict]]:
    """Outcomes (for example read from the outcomes topic) grouped by the session they
    ended with: a session id and the time it closed."""
    grouped: dict[tuple, list[dict]] = {}
    for outcome in outcomes:
        grouped.setdefault((outcome["session_id"], outcome["closed_time"]), []).append(outcome)
    return list(grouped.values())


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
    variants = {name: {metric: _estimate(m, metric in SHARES)
                       for metric, m in sorted(arm.items())}
                for name, arm in sorted(sums.get("variants", {}).items())}
    base = sums.get("variants", {}).get(control)
    if base is not None:
        for name, arm in sums["variants"].items():
            if name != control:
                variants[name]["vs_control"] = {
                    metric: _difference(m, base[metric], metric in SHARES)
                    for metric, m in sorted(arm.items()) if metric in base}
    offpolicy = {}
    for target, parts in sorted(sums.get("offpolicy", {}).items()):
        offpolicy[target] = {"support": _estimate(parts["support"])["mean"]}
        for reward in REWARDS:
            if reward in parts:
                offpolicy[target][reward] = _estimators(parts[reward])
    return {"variants": variants, "offpolicy": offpolicy}


def significant(interval: dict) -> bool:
    """True when a difference's interval excludes zero."""
    return interval["low"] is not None and (interval["low"] > 0 or interval["high"] < 0)


def _ratio(into: dict, name: str, y: float, x: float) -> None:
    """Add one session's ``y / x`` to the sums of the ratio ``name``."""
    m = into.setdefault(name, {"k": 0, "y": 0.0, "x": 0.0, "yy": 0.0, "xx": 0.0, "xy": 0.0})
    for key, value in (("k", 1), ("y", y), ("x", x), ("yy", y * y), ("xx", x * x),
                       ("xy", x * y)):
        m[key] += value


def _add_into(total: dict, sums: dict) -> None:
    for key, value in sums.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _estimate(m: dict, share: bool = False) -> dict:
    """The ratio of the sums, its session-clustered standard error and 95 % interval;
    ``n`` is the page views (or sessions) it is the mean of, ``sessions`` their sessions.
    A ``share`` (a mean of 0/1) has at least the standard error of a binomial with two
    successes and two failures added (Agresti and Caffo 2000), so an arm that has seen no
    conversion yet is not certain of a rate of 0, and its interval is cut to [0, 1]."""
    k, x = m["k"], m["x"]
    n = int(x) if float(x).is_integer() else round(x, 6)  # SNIPS: the sum of the weights
    if not k or x <= 0:
        return {"n": n, "sessions": k, "mean": None, "se": None, "low": None,
                "high": None}
    ratio = m["y"] / x
    if k < 2:
        return {"n": n, "sessions": k, "mean": round(ratio, 6), "se": None,
                "low": None, "high": None}
    spread = max(m["yy"] - 2 * ratio * m["xy"] + ratio * ratio * m["xx"], 0.0)
    se = math.sqrt(spread * k / (k - 1)) / x
    low, high = ratio - Z * se, ratio + Z * se
    if share:  # and its interval stays within [0, 1]
        adjusted = (m["y"] + 2) / (x + 4)
        se = max(se, math.sqrt(adjusted * (1 - adjusted) / (x + 4)))
        low, high = max(0.0, ratio - Z * se), min(1.0, ratio + Z * se)
    return {"n": n, "sessions": k, "mean": round(ratio, 6), "se": round(se, 6),
            "low": round(low, 6), "high": round(high, 6)}


def _difference(m: dict, base: dict, share: bool = False) -> dict:
    """``m - base`` with its interval, from the arms' pooled variance per session (the
    two-sample test's: the arms are alike under the hypothesis of no difference, and an
    arm that has not seen a rare event, a purchase, yet has no variance of its own)."""
    a, b = _estimate(m, share), _estimate(base, share)
    if a["se"] is None or b["se"] is None:
        return {"mean": None, "low": None, "high": None}
    ka, kb = a["sessions"], b["sessions"]
    per_session = (a["se"] ** 2 * ka * (ka - 1) + b["se"] ** 2 * kb * (kb - 1)) / (ka + kb - 2)
    mean = a["mean"] - b["mean"]
    se = math.sqrt(per_session / a["sessions"] + per_session / b["sessions"])
    return {"mean": round(mean, 6), "low": round(mean - Z * se, 6),
            "high": round(mean + Z * se, 6)}


def _estimators(part: dict) -> dict:
    """IPS, SNIPS and DR with their intervals, the effective sample size and mean weight
    of the page views' weights."""
    weights, weights2 = part["weights"], part["weights2"]
    n = part["ips"]["x"]
    return {"ips": _estimate(part["ips"]), "snips": _estimate(part["snips"]),
            "dr": _estimate(part["dr"]),
            "ess": round(weights ** 2 / weights2, 1) if weights2 > 0 else 0.0,
            "mean_weight": round(weights / n, 4) if n else None}


class WindowedTally:
    """A tally in total and over the last ``window_s`` seconds (buckets of a tenth of it,
    so the window is exact to a bucket)."""

    def __init__(self, window_s: float, clock):
        self.window_s, self.clock = window_s, clock
        self.total = Tally()
        self._buckets: list[tuple[float, Tally]] = []  # (start time, tally), oldest first

    def add_session(self, outcomes: list[dict]) -> None:
        self.total.add_session(outcomes)
        now, width = self.clock(), self.window_s / 10
        if not self._buckets or now - self._buckets[-1][0] >= width:
            self._buckets.append((now, Tally()))
        self._buckets[-1][1].add_session(outcomes)

    def window(self) -> dict:
        """The sums of the outcomes added in the last ``window_s`` seconds."""
        since = self.clock() - self.window_s
        self._buckets = [(start, t) for start, t in self._buckets if start > since]
        return merged(t.sums for _start, t in self._buckets)
