"""The River next-page classifier of one page cluster: "where do visitors go from here?".

Each page cluster has its own model in every shard (input partition), learned
online from the session features of page views on it and the cluster that came next.
``MODELS`` are the River estimators compared in docs/learning.md (bench/compare_models.py);
each takes the features of :func:`stream.learning.features.page_features` as they are and
does its own encoding. ``hoeffding`` is the default: within 0.1 point of the best hit
rates, and by far the fastest.

>>> model = NextPageModel("softmax", seed=1)
>>> for _ in range(20):
...     model.learn_one({"device": "mobile", "log_hits": 1.0}, "cart")
...     model.learn_one({"device": "desktop", "log_hits": 1.0}, "search")
>>> model.ranking({"device": "mobile", "log_hits": 1.0})[0], model.n_seen
('cart', 40)
"""

from __future__ import annotations

from river import compose, linear_model, naive_bayes, optim, tree
from river.tree.nodes.branch import DTBranch

from stream.models import EXIT

DEFAULT_MODEL = "hoeffding"


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


MODELS = {"softmax": _softmax, "naive_bayes": _naive_bayes, "hoeffding": _hoeffding,
          "adaptive_tree": _adaptive_tree}


class NextPageModel:
    """A River classifier of the next page cluster, with the count of samples it learned.

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

    def learn_one(self, x: dict, y: str) -> None:
        self._model.learn_one(x, y)
        self.n_seen += 1

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        return self._model.predict_proba_one(x) if self.n_seen else {}

    def ranking(self, x: dict, exclude: tuple = (EXIT,)) -> list[str]:
        """Next clusters, most likely first (``EXIT`` left out unless asked for)."""
        proba = self.predict_proba_one(x)
        return sorted((c for c in proba if c not in exclude), key=lambda c: (-proba[c], c))
