"""The policy: relevant next clusters from the classifier, ranked by what showing each is
expected to gain.

Candidates are the ``candidates`` most likely next clusters of the shard's next-page model
(the current cluster and ``EXIT`` excluded). While that model has learned fewer than
``cold_start_min`` samples on the current cluster (or predicts nothing there), the
candidates come from the Markov counts, and while those are
cold too, from overall popularity: the record names that ``fallback``. Each candidate is
scored by its expected gain

    score(a) = P(a | x) * max(0, (Q(s, a) - V) * n(a) / (n(a) + cold_start_min))

a visitor follows a recommendation about as often as they would have gone there anyway
(``P``), and following it is worth its value ``Q(s, a)`` against ``V``, the value of the
moves they would make instead (the candidates' Q weighted by their probability, over the
moves ever made from here). A Q learned from few visits ``n(a)`` is trusted in proportion,
so a rare move's lucky estimate does not win, and a move never made counts as average.
A page worth no more than the visitor's own moves gains nothing; such pages (and every
page where nothing has a value: no revenue, no page values) follow the gaining ones, the
likelier first. So a likely page comes before an unlikely one of similar value, and an
unlikely page comes first only when it is worth much more (docs/learning.md, "The
policy", has the figures that chose this score). The top ``top_k`` are published with the
numbers behind them.

An experiment's variants (:mod:`stream.core.experiments`) may rank otherwise: ``relevance``
by the model's probability alone, ``markov`` by the Markov counts alone, ``popular`` by
overall popularity; and a variant may explore, each shown item then carrying its
propensity.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from stream.core.experiments import Experiment, Variant, explore, shown_propensity
from stream.core.learning.cluster import ClusterRow, ClusterValue, LearningConfig, popular_ranking
from stream.core.learning.nextpage import NextPageModel
from stream.core.models import EXIT

POLICY_NAMES = {"gain": "river+q", "relevance": "river", "markov": "markov",
                "popular": "popular"}  # the record's ``policy`` per variant policy
GREEDY = Variant("default")  # the default policy, not exploring


class Recommended(NamedTuple):
    """A page view's published items, the fallback and model version they came from,
    whether the list was explored, and what its variant could have shown."""

    items: list[dict]
    fallback: str | None
    version: int
    explored: bool = False
    candidates: tuple[str, ...] = ()
    top: tuple[str, ...] = ()  # its own ranking's top_k
    epsilon: float = 0.0

    def propensity_of(self, cluster: str) -> float:
        """The probability that this variant shows ``cluster`` at this page view (its
        *logging propensity* for another variant's list)."""
        if cluster not in self.candidates:
            return 0.0
        return round(shown_propensity(cluster, set(self.top), len(self.candidates),
                                      len(self.top), self.epsilon), 6)


def candidates(row: ClusterRow, model: NextPageModel, features: dict, current: str,
               values: Mapping[str, ClusterValue], config: LearningConfig,
               policy: str = "gain") -> tuple[dict[str, float], str | None, int]:
    """Candidate clusters with their probabilities, the fallback used (if any), and the
    version (samples learned) of the model they came from. The ``markov`` and ``popular``
    policies start from their own source."""
    warm = policy in ("gain", "relevance") and model.seen.get(current, 0) >= config.cold_start_min
    proba = model.predict_proba_one(features) if warm else {}
    if proba:
        fallback, version = None, model.n_seen
    elif policy != "popular" and row.markov.total >= config.cold_start_min:
        proba, fallback = row.markov.predict_proba_one(features), "markov"
        version = row.markov.total
    else:
        visitors = sum(v.visitors for v in values.values()) or 1
        proba = {c: values[c].visitors / visitors for c in popular_ranking(values)}
        fallback, version = "popular", visitors
    ranked = sorted((c for c in proba if c not in (current, EXIT)), key=lambda c: -proba[c])
    return {c: proba[c] for c in ranked[:config.candidates]}, fallback, version


def rank(proba: dict[str, float], row: ClusterRow, values: Mapping[str, ClusterValue],
         config: LearningConfig, policy: str = "gain") -> list[dict]:
    """Score the candidates and keep the best ``top_k``: each a
    :class:`~stream.core.models.RecommendedPage` as plain JSON values."""
    scores, ranked = _ranked(proba, row, config, policy)
    return [_item(c, scores, proba, row, values) for c in ranked[:config.top_k]]


def _ranked(proba: dict[str, float], row: ClusterRow, config: LearningConfig, policy: str
            ) -> tuple[dict[str, float], list[str]]:
    """Every candidate's score (``gain``: expected gain; otherwise the probability of the
    candidates' source), rounded as published, and the candidates best first."""
    scores = (expected_gains(proba, row, config.cold_start_min) if policy == "gain"
              else proba)
    scores = {c: round(s, 6) for c, s in scores.items()}
    rounded = {c: round(p, 6) for c, p in proba.items()}
    return scores, sorted(proba, key=lambda c: (-scores[c], -rounded[c], c))


def _item(cluster: str, scores: dict[str, float], proba: dict[str, float], row: ClusterRow,
          values: Mapping[str, ClusterValue]) -> dict:
    """One shown candidate with the numbers behind it (a Q of 0.0 for a move never made
    from here)."""
    value = values.get(cluster)
    return {"cluster": cluster, "score": scores[cluster],
            "probability": round(proba[cluster], 6), "q": round(row.q.q(cluster), 6),
            "page_value": round(value.page_value, 6) if value is not None else 0.0}


def expected_gains(proba: dict[str, float], row: ClusterRow, trust_visits: int
                   ) -> dict[str, float]:
    """``P(a) * max(0, (Q(s, a) - V) * n(a) / (n(a) + trust_visits))`` per candidate (see
    the module docstring).

    >>> from stream.core.learning.qlearning import QRow
    >>> row = ClusterRow(q=QRow({"bags": (10.0, 100), "cart": (30.0, 100)}))
    >>> gains = expected_gains({"bags": 0.75, "cart": 0.25}, row, trust_visits=0)
    >>> {c: round(g, 2) for c, g in gains.items()}  # V = 0.75 * 10 + 0.25 * 30 = 15
    {'bags': 0.0, 'cart': 3.75}
    """
    visited = {c: p for c, p in proba.items() if row.q.visits(c)}
    weight = sum(visited.values())
    baseline = sum(p * row.q.q(c) for c, p in visited.items()) / weight if weight else 0.0
    gains = {}
    for c, p in proba.items():
        n = row.q.visits(c)
        trust = n / (n + trust_visits) if n else 0.0
        gains[c] = p * max(0.0, (row.q.q(c) - baseline) * trust)
    return gains


def recommend(row: ClusterRow, model: NextPageModel, features: dict, current: str,
              values: Mapping[str, ClusterValue], config: LearningConfig,
              variant: Variant = GREEDY, ids: tuple[str, str] = ("", ""),
              sources: dict | None = None) -> Recommended:
    """The published items of a page view on ``current`` under ``variant`` (its
    :func:`candidates`, ranked, then explored as :func:`stream.core.experiments.explore`
    draws by the page view's session and event ``ids``); each item carries its propensity
    and slot propensity. ``sources`` keeps the candidates of each source for the other
    variants of the same page view (the model's are predicted once)."""
    source = "model" if variant.policy in ("gain", "relevance") else variant.policy
    sources = {} if sources is None else sources
    if source not in sources:
        sources[source] = candidates(row, model, features, current, values, config,
                                     variant.policy)
    proba, fallback, version = sources[source]
    scores, ranked = _ranked(proba, row, config, variant.policy)
    shown, explored, propensity, slot = explore(ranked, list(proba), config.top_k,
                                                variant.epsilon, *ids, variant.name)
    items = [_item(c, scores, proba, row, values)
             | {"propensity": round(p, 6), "slot_propensity": round(sp, 6)}
             for c, p, sp in zip(shown, propensity, slot)]
    k = min(config.top_k, len(proba))
    return Recommended(items, fallback, version, explored, tuple(proba), tuple(ranked[:k]),
                       variant.epsilon)


def recommend_under(experiment: Experiment, row: ClusterRow, model: NextPageModel,
                    features: dict, current: str, values: Mapping[str, ClusterValue],
                    config: LearningConfig, ids: tuple[str, str]
                    ) -> tuple[Variant, Recommended, dict[str, list[dict]]]:
    """A page view under ``experiment``: its session's variant, what that variant shows,
    and the ``counterfactuals``: what each variant it logs
    (:meth:`~stream.core.experiments.Experiment.counterfactual_to`) would have shown, each
    item with its own propensity and its *logging propensity* under the served variant."""
    variant, sources = experiment.assign(ids[0]), {}

    def under(v: Variant) -> Recommended:
        return recommend(row, model, features, current, values, config, v, ids, sources)
    served = under(variant)
    counterfactuals = {
        other.name: [{"cluster": item["cluster"], "propensity": item["propensity"],
                      "logging_propensity": served.propensity_of(item["cluster"])}
                     for item in under(other).items]
        for other in experiment.counterfactual_to(variant)}
    return variant, served, counterfactuals
