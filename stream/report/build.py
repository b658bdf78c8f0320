"""The whole report as one JSON-ready dict: the learning pass, the per-cluster tables, the
estimated impact, the verdicts and the assumptions they rest on."""

from __future__ import annotations

import dataclasses
import datetime
import sys
from typing import Iterable

from stream.core.clusters import PageClusterer
from stream.core.learning.cluster import LearningConfig
from stream.core.models import PageView, Recommendation
from stream.report import tables
from stream.report.decisions import Decisions, first_followable
from stream.report.from_kafka import published_summary
from stream.report.impact import ALL_ESTIMATORS, ImpactSettings, estimate_impact
from stream.report.learned import accuracy_over_time, learn
from stream.report.logged import ESTIMATED, propensities_note
from stream.tools.progress import Progress

# Pages of the visitor's own order (bundled cluster rules): never where a recommendation leads.
DEFAULT_NOT_FOLLOWED = ("signin", "cart", "checkout_your_info", "checkout_payment",
                        "checkout_review", "checkout_confirmation")
ACCURACY_WINDOW = 1000
MIN_ESS, MIN_MEAN_WEIGHT = 0.1, 0.8  # below either, importance weights are called degenerate


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """How the report splits, reacts and estimates (``pagepilot report`` options)."""

    holdout: float = 0.5
    not_followed: tuple[str, ...] | None = None  # None: DEFAULT_NOT_FOLLOWED that exist
    impact: ImpactSettings = ImpactSettings()

    def __post_init__(self):
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"the held-out share of sessions must be in (0, 1), "
                             f"got {self.holdout}")

    def not_followed_in(self, clusters: tuple[str, ...]) -> tuple[str, ...]:
        """The not-followed clusters among ``clusters``; an unknown name given explicitly
        is an error (a typo would silently let visitors follow into the checkout)."""
        if self.not_followed is None:
            return tuple(c for c in DEFAULT_NOT_FOLLOWED if c in clusters)
        unknown = sorted(set(self.not_followed) - set(clusters))
        if unknown:
            raise ValueError(f"unknown page cluster(s) {', '.join(unknown)} in --not-followed; "
                             f"the cluster rules define {', '.join(clusters)}")
        return tuple(self.not_followed)


def build_report(views: Iterable[PageView], n_sessions: int, config: LearningConfig,
                 clusterer: PageClusterer, options: ReportOptions, *, source: str,
                 session_timeout_s: float = 1800.0, total: int | None = None,
                 published: list[Recommendation] | None = None,
                 input_counts: dict | None = None, logged_experiment: dict | None = None,
                 from_topics: bool = False, err=None) -> dict:
    """Learn, freeze, record, estimate; return the report (see docs/report.md).

    ``published`` are the recommendations a running system published for these page views
    (from its topic), compared with the frozen policy's; None when there is no system.
    ``input_counts`` (rejected rows and the like) are shown with the input; progress goes
    to ``err`` (standard error by default). ``logged_experiment`` is the section of the
    system's outcomes (:func:`stream.report.logged.logged_experiment`; None when the input
    is not the topics, ``from_topics`` False, or the outcomes topic had no records).
    ``propensities`` says whether the report holds estimates made with logged
    propensities (``"logged"``) or with estimated ones only (``"estimated"``).
    """
    err = err or sys.stderr
    progress = Progress("report: learning", total=total, stream=err)
    run = learn(views, n_sessions, options.holdout, config, clusterer, session_timeout_s,
                progress)
    progress.close()
    not_followed = options.not_followed_in(clusterer.names())  # rules may name new clusters
    d = Decisions.from_page_views(run.views, clusterer.names(), set(not_followed))
    progress = Progress("report: bootstrap", total=len(d.state) * options.impact.resamples,
                        stream=err)
    impact = estimate_impact(d, options.impact, progress=lambda done: progress.update(
        done * len(d.state), f"{done} of {options.impact.resamples} resamples"))
    impact["propensities"] = ESTIMATED  # the visitors' own moves, estimated per state
    progress.close()
    followed = [first_followable(items, set(not_followed)) for items in run.views.recommended]
    return {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "propensities": (logged_experiment or {}).get("propensities", ESTIMATED),
        "propensities_note": propensities_note(logged_experiment, from_topics),
        "input": {"source": source, "sessions": n_sessions, "page_views": run.final["events"]}
        | (input_counts or {}),
        "parts": {"learning_sessions": run.learning_sessions,
                  "evaluation_sessions": run.evaluation_sessions,
                  "evaluation_page_views": len(run.views),
                  "frozen_after_page_views": run.frozen.events},
        "settings": _settings(config, options, not_followed, impact),
        "accuracy": {"window": ACCURACY_WINDOW, "frozen_after_page_views": run.frozen.events,
                     "points": accuracy_over_time(run.timeline, ACCURACY_WINDOW),
                     "total": run.final["models"]},
        "page_value": tables.page_values(run.frozen, run.views),
        "policy": tables.learned_policy(run.frozen, run.views, followed),
        "recommended": tables.recommended(run.views),
        "impact": impact,
        "verdicts": {metric: verdict(impact, metric) for metric in ("value", "conversion")}
        | {"weights_degenerate_from": degenerate_from(impact)},
        "assumptions": assumptions(options, not_followed, impact),
        "published": None if published is None else published_summary(published, run.views),
        "logged_experiment": logged_experiment,
    }


def verdict(impact: dict, metric: str) -> dict[str, dict]:
    """Per estimator, the rhos at which the uplift's interval lies above or below zero."""
    out = {}
    for name in ALL_ESTIMATORS:
        rows = [row for row in impact["estimates"][name][metric] if row["rho"] > 0]
        out[name] = {
            "up": [row["rho"] for row in rows if (row["uplift_low"] or 0.0) > 0],
            "down": [row["rho"] for row in rows if (row["uplift_high"] or 0.0) < 0]}
    return out


def degenerate_from(impact: dict) -> float | None:
    """The smallest rho whose importance weights have an effective sample size below
    ``MIN_ESS`` or a mean below ``MIN_MEAN_WEIGHT``; None if there is none."""
    weak = [w["rho"] for w in impact["weights"]
            if w["ess"] < MIN_ESS or w["mean"] < MIN_MEAN_WEIGHT]
    return min(weak, default=None)


def assumptions(options: ReportOptions, not_followed: tuple[str, ...], impact: dict) -> list[str]:
    """What the estimates rest on, in plain words (shown in the report and its JSON)."""
    rhos = ", ".join(f"{rho:g}" for rho in impact["rho"])
    retain = (f"A visitor about to leave follows a recommendation with probability "
              f"{options.impact.retain:g} instead (--retain); the value of what such a visitor "
              f"then does is credited to the policy." if options.impact.retain else
              "Recommendations redirect, they do not retain: a visitor about to leave leaves "
              "anyway. So the bounce rate cannot change (it is shown to make that visible); "
              "crediting recommendations with keeping visitors would need evidence these "
              "data do not hold (use --retain to explore it).")
    return [
        f"Reaction: a visitor who goes on to another page follows the best-ranked "
        f"recommendation they can follow with probability rho (swept over {rhos}) instead of "
        f"their own choice, and otherwise behaves as logged. rho is not estimated: no "
        f"recommendations were shown while these sessions were logged.",
        retain,
        f"Order pages ({', '.join(not_followed) or 'none'}) belong to the visitor's own "
        f"order: a recommendation never leads there (a link to an empty cart sells nothing) "
        f"and never diverts a visitor on the way there.",
        "Markov behaviour: visitors in the same state (page cluster, the cluster before it, "
        "whether they have entered their order) go on alike, however they got there. A visitor "
        "sent to a page by a recommendation behaves like the visitors who went there by "
        "themselves: no novelty, trust or annoyance effect.",
        "No interference and stationarity: one visitor's recommendations do not change "
        "another's behaviour (no stock-outs, no word of mouth), and the visitors of the "
        "evaluation part behave like those the policy would meet.",
        f"Held-out evaluation: the policy is learned on the first "
        f"{100 * (1 - options.holdout):.0f}% of sessions, then frozen, and judged on the last "
        f"{100 * options.holdout:.0f}%, which it never learned from.",
        "Value is the transaction revenue of a session. Page value spreads that revenue over "
        "the pages viewed before a purchase; a policy is credited with the purchases it brings "
        "about, never with the page value of the pages it leads to. The model gives a purchase "
        "the mean revenue of logged purchases on that page cluster.",
        f"In the estimated impact, propensities are estimated, not known: the logging policy "
        f"is the visitors' own behaviour, estimated per state from the logged moves. IPS, "
        f"SNIPS and DR there are only as "
        f"unbiased as those estimates. Cumulative weights are clipped at "
        f"{impact['clip']:.0f}; the share of sessions clipped and the effective sample size "
        f"are shown with the estimates.",
        f"Intervals are {100 * impact['level']:.0f}% percentile bootstrap intervals over "
        f"sessions ({impact['resamples']} resamples, everything re-estimated on each): they "
        f"measure sampling noise, not the assumptions above.",
    ]


def _settings(config: LearningConfig, options: ReportOptions, not_followed, impact) -> dict:
    return {"model": config.model, "gamma": config.gamma, "top_k": config.top_k,
            "candidates": config.candidates, "cold_start_min": config.cold_start_min,
            "holdout": options.holdout, "not_followed": list(not_followed),
            "rho": impact["rho"], "retain": impact["retain"], "resamples": impact["resamples"],
            "clip": impact["clip"], "seed": options.impact.seed}

