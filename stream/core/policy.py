"""The policy: relevant next clusters from the classifier, ranked by their Q-value.

Candidates are the ``candidates`` most likely next clusters of the shard's next-page model
(the current cluster and ``EXIT`` excluded). While that model has learned fewer than
``cold_start_min`` samples on the current cluster (or predicts nothing there), the
candidates come from the Markov counts, and while those are
cold too, from overall popularity: the record names that ``fallback``. Each candidate is
scored

    score = (1 - w_p) * Q(s, a) / max|Q| + w_p * P(a | x) - w_b * exit_rate(a)

(``w_p`` = ``blend_probability``, ``w_b`` = ``blend_bounce``; by default pure Q, ties broken
by probability), and the top ``top_k`` are published with the numbers behind them.
"""

from __future__ import annotations

from typing import Mapping

from stream.core.learning.cluster import ClusterRow, ClusterValue, LearningConfig, popular_ranking
from stream.core.learning.nextpage import NextPageModel
from stream.core.models import EXIT

POLICY_NAME = "river+q"


def candidates(row: ClusterRow, model: NextPageModel, features: dict, current: str,
               values: Mapping[str, ClusterValue], config: LearningConfig
               ) -> tuple[dict[str, float], str | None, int]:
    """Candidate clusters with their probabilities, the fallback used (if any), and the
    version (samples learned) of the model they came from."""
    warm = model.seen.get(current, 0) >= config.cold_start_min
    proba = model.predict_proba_one(features) if warm else {}
    if proba:
        fallback, version = None, model.n_seen
    elif row.markov.total >= config.cold_start_min:
        proba, fallback = row.markov.predict_proba_one(features), "markov"
        version = row.markov.total
    else:
        visitors = sum(v.visitors for v in values.values()) or 1
        proba = {c: values[c].visitors / visitors for c in popular_ranking(values)}
        fallback, version = "popular", visitors
    ranked = sorted((c for c in proba if c not in (current, EXIT)), key=lambda c: -proba[c])
    return {c: proba[c] for c in ranked[:config.candidates]}, fallback, version


def rank(proba: dict[str, float], row: ClusterRow, values: Mapping[str, ClusterValue],
         config: LearningConfig) -> list[dict]:
    """Score the candidates and keep the best ``top_k``: each a
    :class:`~stream.core.models.RecommendedPage` as plain JSON values."""
    q = {c: row.q.q(c) for c in proba}  # 0.0 for a move never made from here
    scale = max((abs(v) for v in q.values()), default=0.0) or 1.0
    w_p, w_b = config.blend_probability, config.blend_bounce
    none = ClusterValue()
    scored = [((1 - w_p) * q[c] / scale + w_p * p - w_b * values.get(c, none).exit_rate, p, c)
              for c, p in proba.items()]
    scored.sort(key=lambda t: (-round(t[0], 6), -round(t[1], 6), t[2]))  # as published
    return [{"cluster": c, "score": round(score, 6), "probability": round(p, 6),
             "q": round(q[c], 6), "page_value": round(values.get(c, none).page_value, 6)}
            for score, p, c in scored[:config.top_k]]


def recommend(row: ClusterRow, model: NextPageModel, features: dict, current: str,
              values: Mapping[str, ClusterValue], config: LearningConfig
              ) -> tuple[list[dict], str | None, int]:
    """The published items of a page view on ``current`` (:func:`candidates`, then
    :func:`rank`), with the fallback and model version they came from."""
    proba, fallback, version = candidates(row, model, features, current, values, config)
    return rank(proba, row, values, config), fallback, version
