"""The shard's next-page classifier: "where do visitors go from here?".

One model per shard (input partition) learns from every page view of its sessions
(``x`` from :func:`stream.core.learning.features.page_features`, its ``history`` starting with
the current cluster) and the cluster that came next. ``MODELS`` are the estimators
compared in docs/learning.md (``python -m stream.tools.compare_models``). ``mixture``, the
default, is :class:`stream.core.learning.sequences.SessionMixture`: sequence experts weighted
per cluster.
The others are River's own learners, one per cluster (:class:`PerCluster`), on the
page's features without the history; each does its own encoding.

>>> model = NextPageModel("softmax", seed=1)
>>> for _ in range(20):
...     model.learn_one({"history": ["home"], "device": "mobile", "log_hits": 1.0}, "cart")
...     model.learn_one({"history": ["home"], "device": "desktop", "log_hits": 1.0}, "search")
>>> model.ranking({"history": ["home"], "device": "mobile", "log_hits": 1.0})[0]
'cart'
>>> model.n_seen, model.seen
(40, {'home': 40})
"""

from __future__ import annotations

import functools

from river import base, compose, linear_model, naive_bayes, optim, tree
from river.tree.nodes.branch import DTBranch

from stream.config import DEFAULT_MODEL
from stream.core.learning.sequences import SessionMixture
from stream.core.models import EXIT

__all__ = ["DEFAULT_MODEL", "MODELS", "NextPageModel", "PerCluster"]


def one_hot(x: dict) -> dict[str, float]:
    """Categorical features as ``name=value`` indicators, numbers as they are.

    >>> one_hot({"device": "mobile", "log_hits": 1.5})
    {'device=mobile': 1.0, 'log_hits': 1.5}
    """
    return {(f"{key}={value}" if isinstance(value, str) else key):
            (1.0 if isinstance(value, str) else float(value)) for key, value in x.items()}


def one_hot_with_intercept(x: dict) -> dict[str, float]:
    """:func:`one_hot` plus a constant feature, the intercept of a linear model."""
    return {**one_hot(x), "intercept": 1.0}


def previous_one_hot(x: dict) -> dict[str, float]:
    """The previous cluster alone, one-hot (naive Bayes is hurt by the weaker features)."""
    return one_hot({"previous": x["previous"]}) if "previous" in x else {}


def _softmax(seed: int):
    # Multinomial logistic regression; AdaGrad's per-weight steps suit sparse indicators.
    return (compose.FuncTransformer(one_hot_with_intercept)
            | linear_model.SoftmaxRegression(optimizer=optim.AdaGrad(0.03)))


def _naive_bayes(seed: int):
    # P(next) P(previous | next): a second-order Markov chain, smoothed toward the first.
    return (compose.FuncTransformer(previous_one_hot)
            | naive_bayes.MultinomialNB(alpha=3.0))


class CountingTree(tree.HoeffdingTreeClassifier):
    """River's Hoeffding tree with class-count ("mc") leaves, predicting without a copy.

    River's leaf normalises a deep copy of its class counts on every prediction, a sixth of
    the worker's time per page view; this normalises the counts into a new dict directly.
    It reads River's tree internals (``_root``, ``traverse``, ``stats``); the model
    contract tests check that it predicts what River's own method does.
    """

    def predict_proba_one(self, x):
        proba = dict.fromkeys(self._sorted_classes(), 0.0)
        root = self._root
        if root is None:
            return proba
        leaf = root.traverse(x, until_leaf=True) if isinstance(root, DTBranch) else root
        total = sum(leaf.stats.values())
        if total:
            proba.update({c: n / total for c, n in leaf.stats.items()})
        return proba

    def _sorted_classes(self) -> list:
        """``sorted(self.classes)``, sorted again only when a class was added."""
        cached = self.__dict__.get("_sorted")  # absent in a tree pickled before this cache
        if cached is None or len(cached) != len(self.classes):
            cached = self.__dict__["_sorted"] = sorted(self.classes)
        return cached


# A tree's splits on the previous cluster are multiway, and every leaf keeps its own
# statistics per feature and class, so an uncapped tree grew to several MB after 150,000
# page views, and a one-hour soak's memory with it. River deactivates the least promising
# leaves of a tree above TREE_MAX_MB (checked every TREE_CHECK_EVERY samples): on 30,000
# generated sessions the capped trees score the same HR@3 and MRR as uncapped ones
# (0.766 / 0.669) in a quarter of the memory.
TREE_MAX_MB, TREE_CHECK_EVERY = 1.0, 10_000
_TREE = dict(grace_period=1000, max_depth=3, leaf_prediction="mc", max_size=TREE_MAX_MB,
             memory_estimate_period=TREE_CHECK_EVERY)


def _hoeffding(seed: int):
    # Leaves predict their class counts ("mc"): the root is the cluster's next-page counts,
    # split on a feature (usually the previous cluster) once that is shown to pay.
    return CountingTree(**_TREE)


def _adaptive_tree(seed: int):
    # The same tree, which also replaces branches that drift detectors find outdated.
    return tree.HoeffdingAdaptiveTreeClassifier(**_TREE, seed=seed)


class PerCluster(base.Classifier):
    """One River classifier per current cluster (``x["history"][0]``), made by ``factory``,
    each on the features of ``x`` but the history."""

    def __init__(self, factory):
        self.factory = factory
        self.models: dict = {}

    @property
    def _multiclass(self) -> bool:
        return True

    def learn_one(self, x: dict, y: str) -> None:
        cluster = x["history"][0]
        model = self.models.get(cluster)
        if model is None:
            model = self.models[cluster] = self.factory()
        model.learn_one(_without_history(x), y)

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        model = self.models.get(x["history"][0])
        return model.predict_proba_one(_without_history(x)) if model is not None else {}


def _without_history(x: dict) -> dict:
    return {key: value for key, value in x.items() if key != "history"}


def _per_cluster(make):
    return lambda seed: PerCluster(functools.partial(make, seed))


MODELS = {"mixture": lambda seed: SessionMixture(), "softmax": _per_cluster(_softmax),
          "naive_bayes": _per_cluster(_naive_bayes), "hoeffding": _per_cluster(_hoeffding),
          "adaptive_tree": _per_cluster(_adaptive_tree)}


class NextPageModel:
    """A next-page classifier with the samples it learned, in total and per cluster.

    Parameters
    ----------
    kind
        One of :data:`MODELS`.
    seed
        Seed of the estimator's randomness, where it has any.
    """

    def __init__(self, kind: str = DEFAULT_MODEL, seed: int = 0):
        if kind not in MODELS:
            raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
        self.kind = kind
        self.seed = seed
        self._model = MODELS[kind](seed)
        self.n_seen = 0
        self.seen: dict[str, int] = {}  # current cluster -> samples learned there

    def learn_one(self, x: dict, y: str) -> None:
        self._model.learn_one(x, y)
        self.n_seen += 1
        cluster = x["history"][0]
        self.seen[cluster] = self.seen.get(cluster, 0) + 1

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        return self._model.predict_proba_one(x) if self.n_seen else {}

    def ranking(self, x: dict, exclude: tuple = (EXIT,)) -> list[str]:
        """Next clusters, most likely first (``EXIT`` left out unless asked for)."""
        proba = self.predict_proba_one(x)
        return sorted((c for c in proba if c not in exclude), key=lambda c: (-proba[c], c))
