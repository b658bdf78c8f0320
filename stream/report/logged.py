"""The report's "Logged experiment" section: what the running system's own experiment
measured, from its outcomes topic (:mod:`stream.core.outcomes`), with the propensities the
worker logged: exact, not estimated.

The figures are :func:`stream.core.estimates.figures` of a :class:`~stream.core.estimates.Tally`
of the unique outcomes, the same sums the worker's ``/api/metrics`` shows: per served
variant its means with 95 % intervals and their difference to the control; per target
variant IPS, SNIPS and DR of its hit rate and followed value from the page views of the
exploring variants, with the effective sample size and the support. This module only
chooses the control, checks the records and arranges the figures.

The section's ``propensities`` is ``"logged"`` when it holds at least one off-policy
estimate (some exploring variant logged another variant's list); outcomes without any
(no variant explores, or a single variant and no shadow) give the A/B figures, which need
no propensities, and ``"estimated"`` stays the report's only kind.

>>> from stream.core.outcomes import SessionOutcomes
>>> log = SessionOutcomes()
>>> log.viewed("s", "home", revenue=0.0, page_value=0.0)
>>> log.served("s", {"event_id": "s-1", "sequence": 1, "variant": "default", "epsilon": 0.5,
...     "cluster": "home", "items": [{"cluster": "bags", "propensity": 0.75}],
...     "counterfactuals": {"markov": [{"cluster": "bags", "propensity": 1.0,
...                                     "logging_propensity": 0.75}]}, "expected": {}})
>>> log.viewed("s", "bags", revenue=0.0, page_value=1.0)
>>> section = logged_experiment(log.close("s", closed_time=0))
>>> section["propensities"], section["control"], section["offpolicy"]["markov"]["support"]
('logged', 'default', 1.0)
"""

from __future__ import annotations

import collections
from typing import Iterable, Sequence

from stream.core.estimates import Tally, figures, sessions_of

LOGGED, ESTIMATED = "logged", "estimated"
DEFAULT_CONTROL = "default"  # stream.core.experiments.DEFAULT_VARIANT
NO_OUTCOMES = "no logged propensities (no outcomes topic records): estimated"
NO_TOPICS = "no logged propensities (the input is not the system's topics): estimated"
NO_OFFPOLICY = ("no logged propensities (the outcomes hold no exploring variant's list of "
                "another variant, so there is no off-policy estimate to make from them): "
                "estimated")
METRICS = ("hit_rate", "followed_value", "value_per_session", "conversion")
_NUMBER = (int, float)
_FIELDS = {"event_id": str, "session_id": str, "variant": str, "epsilon": _NUMBER,
           "items": list, "counterfactuals": dict, "expected": dict, "next": str,
           "followed": bool, "revenue_after": _NUMBER, "session_revenue": _NUMBER,
           "opens_session": bool}


def is_outcome(data) -> bool:
    """True when ``data`` (a decoded outcomes-topic value) has every field the estimates
    read, of the right kind: a record that fails is counted and left out, never half-added
    to the sums."""
    if not isinstance(data, dict):
        return False
    if any(not isinstance(data.get(key), kind) for key, kind in _FIELDS.items()):
        return False
    if not 0.0 <= data["epsilon"] <= 1.0:
        return False
    if not all(isinstance(item, dict) and isinstance(item.get("cluster"), str)
               for item in data["items"]):
        return False
    for items in data["counterfactuals"].values():
        if not isinstance(items, list):
            return False
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("cluster"), str):
                return False
            p = item.get("logging_propensity")
            if not isinstance(p, _NUMBER) or not 0.0 <= p <= 1.0:
                return False
    return all(isinstance(v, list) and len(v) == 2 and all(isinstance(x, _NUMBER) for x in v)
               for v in data["expected"].values())


def choose_control(counts: collections.Counter, requested: str | None = None,
                   experiment_order: Sequence[str] = ()) -> tuple[str, str]:
    """The control variant among those with outcomes, and why it is the control:
    ``requested`` (``--control``), else the experiment's first served variant (the
    worker's own control), else ``default``, else the variant with most outcomes.

    >>> choose_control(collections.Counter(a=3, b=5))
    ('b', 'the variant with most outcomes')
    >>> choose_control(collections.Counter(a=3, default=1))
    ('default', 'the variant named default')
    """
    names = ", ".join(sorted(counts))
    if requested:
        if requested not in counts:
            raise ValueError(f"--control {requested}: no outcomes of that variant; the "
                             f"outcomes name {names}")
        return requested, "--control"
    if experiment_order and experiment_order[0] in counts:
        return experiment_order[0], "the experiment file's first served variant"
    if DEFAULT_CONTROL in counts:
        return DEFAULT_CONTROL, f"the variant named {DEFAULT_CONTROL}"
    most = max(sorted(counts), key=lambda name: counts[name])
    return most, "the variant with most outcomes"


def logged_experiment(outcomes: Iterable[dict], control: str | None = None,
                      experiment_order: Sequence[str] = (), *, counts: dict | None = None,
                      source: str = "") -> dict | None:
    """The section from unique, valid outcomes (None when there are none): the control,
    per served variant its figures (``variants``, control first in ``order``), per target
    its off-policy estimates (``offpolicy``, with the exploring variants they come from and,
    for a target that was served too, its on-policy means to compare with), and
    ``propensities``. ``counts`` (records read, repeats, invalid) are kept as they are."""
    tally, served = Tally(), collections.Counter()
    epsilons: dict[str, set] = collections.defaultdict(set)
    logging: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    sessions, outcomes = set(), list(outcomes)
    for session in sessions_of(outcomes):
        tally.add_session(session)
    for outcome in outcomes:
        served[outcome["variant"]] += 1
        epsilons[outcome["variant"]].add(float(outcome["epsilon"]))
        if outcome["opens_session"]:
            sessions.add(outcome["session_id"])
        if outcome["epsilon"] > 0:
            for target in outcome["counterfactuals"]:
                logging[target][outcome["variant"]] += 1
    if not served:
        return None
    control, why = choose_control(served, control, experiment_order)
    result = figures(tally.sums, control)
    order = [control, *sorted(name for name in served if name != control)]
    offpolicy = {}
    for target, estimates in result["offpolicy"].items():
        on_policy = result["variants"].get(target)
        offpolicy[target] = estimates | {
            "logged_by": dict(sorted(logging[target].items())),
            "served": None if on_policy is None else {
                metric: on_policy[metric] for metric in ("hit_rate", "followed_value")}}
    has_offpolicy = any(parts.get("hit", {}).get("ips", {}).get("n")
                        for parts in offpolicy.values())
    return {
        "propensities": LOGGED if has_offpolicy else ESTIMATED,
        "source": source, "outcomes": sum(served.values()), "sessions": len(sessions),
        "control": control, "control_from": why, "order": order,
        "epsilon": {name: sorted(epsilons[name]) for name in order},
        "variants": {name: result["variants"][name] for name in order},
        "offpolicy": offpolicy,
    } | ({"counts": counts} if counts else {})


def propensities_note(section: dict | None, from_topics: bool) -> str:
    """What the report says about the propensities it used, in one line."""
    if not from_topics:
        return NO_TOPICS
    if section is None:
        return NO_OUTCOMES
    if section["propensities"] != LOGGED:
        return NO_OFFPOLICY
    targets = ", ".join(section["offpolicy"])
    return (f"logged propensities in the Logged experiment section: it estimates {targets} "
            f"off-policy with the propensities the worker logged ({section['outcomes']:,} "
            f"outcomes); the Estimated impact section uses estimated propensities")


def headline(section: dict | None, note: str) -> str:
    """The command's line about the logged experiment (or why there is none)."""
    if section is None:
        return f"propensities: {note}"
    control = section["control"]
    parts = [f"logged experiment ({section['propensities']} propensities): "
             f"{section['outcomes']:,} outcomes of {section['sessions']:,} ended sessions, "
             f"control {control}"]
    for name in section["order"][1:]:
        diff = section["variants"][name].get("vs_control", {})
        parts.append(f"{name} - {control}: " + ", ".join(
            f"{metric.replace('_', ' ')} {_signed(diff[metric])}"
            for metric in ("hit_rate", "value_per_session") if metric in diff))
    for target, estimates in section["offpolicy"].items():
        hit = estimates.get("hit")
        if hit and hit["dr"]["n"]:
            parts.append(f"{target} off-policy hit rate DR {_interval(hit['dr'])} "
                         f"(ESS {hit['ess']:,.0f} of {hit['dr']['n']:,}, support "
                         f"{estimates['support']:.0%})")
    return "; ".join(parts) + ("" if section["propensities"] == LOGGED else f" ({note})")


def _signed(d: dict) -> str:
    if d["mean"] is None:
        return "-"
    return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


def _interval(m: dict) -> str:
    if m["low"] is None:
        return f"{m['mean']:.4f}"
    return f"{m['mean']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"
