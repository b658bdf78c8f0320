"""Experiments: named policy variants served to shares of sessions (A/B/n) or computed in
the shadow, and exploration whose every shown item carries its propensity.

A session's variant comes from a stable hash of its id, so every worker, every restart
and every replay assigns it alike. An exploring variant shows, with probability
``epsilon``, a list drawn uniformly from its candidates instead of its own ranking; the
draw is seeded by the session and event ids, so a page view processed again shows the
same list. An item's **propensity** is the probability that this variant shows it
anywhere in the list, and its **slot propensity** the probability that it shows it in
that slot: with ``n`` candidates and ``k = min(top_k, n)`` shown,

    propensity(a)    = (1 - epsilon) [a in ranked]      + epsilon k / n
    slot_propensity  = (1 - epsilon) [ranked[j] == a]   + epsilon / n

so the propensities of a list sum to ``k`` over the candidates, and those of one slot to 1.

>>> explore(["bags", "cart"], ["bags", "cart", "home", "shoes"], 2, 0.0, "s", "s-1")
(['bags', 'cart'], False, [1.0, 1.0], [1.0, 1.0])
>>> shown, explored, p, slot = explore(["bags", "cart"], ["bags", "cart", "home", "shoes"],
...                                    2, 1.0, "s", "s-1")
>>> explored, p, slot
(True, [0.5, 0.5], [0.25, 0.25])
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import tomllib
from pathlib import Path

POLICIES = ("gain", "relevance", "markov", "popular")  # stream.policy.recommend's choices
DEFAULT_VARIANT = "default"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One named policy of an experiment: ``policy`` ranks, ``epsilon`` explores;
    ``share`` of sessions are served it, or none when it is a ``shadow``."""

    name: str
    policy: str = "gain"
    share: float = 1.0
    epsilon: float = 0.0
    shadow: bool = False

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"a variant name is letters, digits, '-' and '_', got "
                             f"{self.name!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"variant {self.name!r}: unknown policy {self.policy!r}; "
                             f"one of {', '.join(POLICIES)}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"variant {self.name!r}: epsilon must be in [0, 1], got "
                             f"{self.epsilon}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"variant {self.name!r}: share must be in [0, 1], got {self.share}")
        if self.shadow:
            object.__setattr__(self, "share", 0.0)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """The variants that run at once; the served ones' shares add up to 1."""

    variants: tuple[Variant, ...]

    def __post_init__(self):
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {', '.join(names)}")
        served = sum(v.share for v in self.variants if not v.shadow)
        if not self.served or abs(served - 1.0) > 1e-6:
            raise ValueError(f"the shares of the served variants must add up to 1, got "
                             f"{served:g}")

    @property
    def served(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if not v.shadow and v.share > 0)

    @property
    def shadows(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.shadow)

    def counterfactual_to(self, variant: Variant) -> tuple[Variant, ...]:
        """The variants whose lists a page view served by ``variant`` logs: every shadow,
        and every other served variant too when ``variant`` explores (the off-policy
        estimates of each need its list where the logging propensities are known)."""
        return tuple(v for v in self.variants if v.name != variant.name
                     and (v.shadow or variant.epsilon > 0))

    def assign(self, session_id: str) -> Variant:
        """The served variant of a session: the same for it everywhere, always.

        >>> ab = Experiment((Variant("a", share=0.5), Variant("b", share=0.5)))
        >>> [ab.assign(f"session-{i}").name for i in range(6)]
        ['b', 'b', 'b', 'a', 'b', 'a']
        """
        point, bound = unit_interval("variant", session_id), 0.0
        for variant in self.served:
            bound += variant.share
            if point < bound:
                return variant
        return self.served[-1]  # rounding of the shares

    @classmethod
    def single(cls, epsilon: float = 0.0) -> "Experiment":
        """No experiment: every session gets the default policy, exploring at ``epsilon``."""
        return cls((Variant(DEFAULT_VARIANT, epsilon=epsilon),))

    @classmethod
    def from_toml(cls, path: str | Path) -> "Experiment":
        """Variants from a TOML file of ``[[variant]]`` tables (docs/experiments.md)."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"experiment file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"experiment file {path} is not valid TOML: {exc}") from None
        tables = data.get("variant")
        if not isinstance(tables, list) or not tables:
            raise ValueError(f"experiment file {path} has no [[variant]] table")
        fields = {f.name for f in dataclasses.fields(Variant)}
        variants = []
        for number, table in enumerate(tables, start=1):
            unknown = sorted(set(table) - fields)
            if unknown:
                raise ValueError(f"experiment file {path}, variant {number}: unknown key(s) "
                                 f"{', '.join(unknown)}; known: {', '.join(sorted(fields))}")
            try:
                variants.append(Variant(**table))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"experiment file {path}, variant {number}: {exc}") from None
        return cls(tuple(variants))


def unit_interval(*parts: str) -> float:
    """A number in [0, 1) that only ``parts`` decide (blake2b: stable across processes and
    Python versions, unlike ``hash``).

    >>> unit_interval("variant", "s-1") == unit_interval("variant", "s-1") != unit_interval("s-1")
    True
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


def explore(ranked: list[str], candidates: list[str], top_k: int, epsilon: float,
            session_id: str, event_id: str, variant: str = DEFAULT_VARIANT
            ) -> tuple[list[str], bool, list[float], list[float]]:
    """The list to show, whether it was explored, and each shown item's propensity and
    slot propensity (module docstring). ``ranked`` is the variant's own ranking of
    ``candidates``; each variant draws on its own (the ``variant`` name seeds it too)."""
    n = len(candidates)
    k = min(top_k, n)
    seed = (variant, session_id, event_id)
    explored = epsilon > 0 and n > 0 and unit_interval("explore", *seed) < epsilon
    shown = (random.Random(unit_interval("draw", *seed)).sample(candidates, k)
             if explored else list(ranked[:k]))
    if not n:
        return shown, explored, [], []
    top = set(ranked[:k])
    propensity = [shown_propensity(a, top, n, k, epsilon) for a in shown]
    slot = [(1 - epsilon) * (j < len(ranked) and ranked[j] == a) + epsilon / n
            for j, a in enumerate(shown)]
    return shown, explored, propensity, slot


def shown_propensity(item: str, top: set[str], n: int, k: int, epsilon: float) -> float:
    """The probability that a variant whose top ``k`` of ``n`` candidates are ``top`` shows
    ``item`` (0 for an item that is not among its candidates: the caller knows)."""
    return (1 - epsilon) * (item in top) + (epsilon * k / n if n else 0.0)
