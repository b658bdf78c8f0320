"""The River next-page classifier of one page cluster: "where do visitors go from here?".

Each page cluster has its own model (kept on the partition of that cluster), learned
online from the session features of page views on it and the cluster that came next.
``MODELS`` are the River estimators compared in docs/learning.md; ``softmax`` won.

>>> model = NextPageModel("softmax", seed=1)
>>> for _ in range(20):
...     model.learn_one({"device": "mobile", "log_hits": 1.0}, "cart")
...     model.learn_one({"device": "desktop", "log_hits": 1.0}, "search")
>>> model.ranking({"device": "mobile", "log_hits": 1.0})[0], model.n_seen
('cart', 40)
"""

from __future__ import annotations

from river import linear_model, naive_bayes, optim, tree

from stream.models import EXIT


def _softmax(seed: int):
    return linear_model.SoftmaxRegression(optimizer=optim.SGD(0.05))


def _naive_bayes(seed: int):
    return naive_bayes.MultinomialNB(alpha=0.5)


def _hoeffding(seed: int):
    return tree.HoeffdingTreeClassifier(grace_period=50)


def _adaptive_tree(seed: int):
    return tree.HoeffdingAdaptiveTreeClassifier(grace_period=50, seed=seed)


MODELS = {"softmax": _softmax, "naive_bayes": _naive_bayes, "hoeffding": _hoeffding,
          "adaptive_tree": _adaptive_tree}


def one_hot(x: dict) -> dict[str, float]:
    """Categorical features as ``name=value`` indicators, numbers as they are."""
    return {(f"{key}={value}" if isinstance(value, str) else key):
            (1.0 if isinstance(value, str) else float(value)) for key, value in x.items()}


class NextPageModel:
    """A River classifier of the next page cluster, with the count of samples it learned.

    Parameters
    ----------
    kind
        One of :data:`MODELS`.
    seed
        Seed of the estimator's randomness, where it has any.
    """

    def __init__(self, kind: str = "softmax", seed: int = 0):
        if kind not in MODELS:
            raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
        self.kind = kind
        self.seed = seed
        self._model = MODELS[kind](seed)
        self.n_seen = 0

    def learn_one(self, x: dict, y: str) -> None:
        self._model.learn_one(one_hot(x), y)
        self.n_seen += 1

    def predict_proba_one(self, x: dict) -> dict[str, float]:
        return self._model.predict_proba_one(one_hot(x)) if self.n_seen else {}

    def ranking(self, x: dict, exclude: tuple = (EXIT,)) -> list[str]:
        """Next clusters, most likely first (``EXIT`` left out unless asked for)."""
        proba = self.predict_proba_one(x)
        return sorted((c for c in proba if c not in exclude), key=lambda c: (-proba[c], c))
