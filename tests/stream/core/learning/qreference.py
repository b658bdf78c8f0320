"""Reference Q-learning for the tests: the whole table as rows of the worker's QRow, and the
exact answer (value iteration) that Q-learning should converge to.

>>> learner = QLearner(["home", "cart"], gamma=0.9)
>>> learner.learn_one("home", "cart", reward=2.0)
>>> learner.learn_one("home", EXIT, reward=0.0)
>>> learner.q_row("home"), learner.greedy("home"), learner.greedy("home", exclude=["cart"])
({'cart': 2.0, '(exit)': 0.0}, 'cart', '(exit)')
>>> learner.q_row("cart"), learner.greedy("cart")
({}, None)
"""

from __future__ import annotations

import math
import typing

from stream.core.learning.qlearning import EXIT, QRow


class QLearner:
    """The Q-table over page clusters, one :class:`QRow` per state, learned one transition
    at a time exactly as the worker learns a row.

    Parameters
    ----------
    clusters
        The page clusters (the states), without ``EXIT``.
    gamma
        Discount of future rewards, in [0, 1].
    omega
        Exponent of the learning rate ``alpha = n ** -omega``, in (0.5, 1].
    """

    def __init__(self, clusters: typing.Iterable[str], gamma: float = 0.9, omega: float = 0.7):
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if not 0.5 < omega <= 1.0:
            raise ValueError(f"omega must be in (0.5, 1] for Q-learning to converge, got {omega}")
        self.clusters = tuple(clusters)
        self.gamma = gamma
        self.omega = omega
        self._rows = {state: QRow() for state in self.clusters}

    def _row(self, state: str) -> QRow:
        if state == EXIT:
            raise KeyError(f"{EXIT!r} is terminal: it is no state and has no Q row")
        try:
            return self._rows[state]
        except KeyError:
            raise KeyError(f"unknown page cluster {state!r}") from None

    def learn_one(self, state: str, next_state: str, reward: float) -> None:
        """Learn that a session went from ``state`` to ``next_state`` and earned ``reward``
        (``next_state`` is ``EXIT`` when the session ended on ``state``)."""
        row = self._row(state)
        terminal = next_state == EXIT
        next_value = 0.0 if terminal else self._row(next_state).value()
        self._rows[state] = row.learned(next_state, reward, next_value, terminal,
                                        self.gamma, self.omega)

    def value(self, state: str) -> float:
        """``V(state)``; 0.0 for ``EXIT`` or a state with no visits."""
        return 0.0 if state == EXIT else self._row(state).value()

    def q_row(self, state: str) -> dict[str, float]:
        """The Q-values of the actions visited from ``state``, by name."""
        return {action: q for action, (q, _n) in self._row(state).items()}

    def greedy(self, state: str, exclude: typing.Iterable[str] = ()) -> str | None:
        """The visited action of highest Q from ``state`` (ties: the first visited), ``None``
        when no action is left."""
        excluded = set(exclude)
        best, best_q = None, -math.inf
        for action, q in self.q_row(state).items():
            if action not in excluded and q > best_q:
                best, best_q = action, q
        return best

    def row(self, state: str) -> QRow:
        return self._row(state)


def value_iteration(allowed: typing.Mapping[str, typing.Collection[str]],
                    rewards: typing.Mapping[str, float], gamma: float,
                    tol: float = 1e-10) -> dict[tuple[str, str], float]:
    """The optimal ``Q*`` of the deterministic MDP of page clusters.

    From state ``s`` the visitor may go to any ``a`` in ``allowed[s]`` and earns
    ``rewards.get(a, 0.0)`` on arrival; ``EXIT`` (allowed where listed) is terminal::

        Q*(s, a) = rewards[a] + gamma * max(Q*(a, b) for b in allowed[a])

    with the max taken as 0 when ``a`` is ``EXIT`` or has no allowed moves. Iterates until
    no value changes by more than ``tol``.

    >>> q = value_iteration({"home": {"cart", EXIT}, "cart": {"home", EXIT}},
    ...                     {"home": 0.0, "cart": 10.0}, gamma=0.5)
    >>> {pair: round(value, 6) for pair, value in sorted(q.items())}
    {('cart', '(exit)'): 0.0, ('cart', 'home'): 6.666667, ('home', '(exit)'): 0.0, ('home', 'cart'): 13.333333}
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1) for value iteration to converge, got {gamma}")
    pairs = [(s, a) for s, actions in allowed.items() for a in actions]
    q = dict.fromkeys(pairs, 0.0)
    while True:
        value = {s: max((q[s, a] for a in actions), default=0.0) for s, actions in allowed.items()}
        change = 0.0
        for s, a in pairs:
            future = 0.0 if a == EXIT else gamma * value.get(a, 0.0)
            new = float(rewards.get(a, 0.0)) + future
            change = max(change, abs(new - q[s, a]))
            q[s, a] = new
        if change <= tol:
            return q
