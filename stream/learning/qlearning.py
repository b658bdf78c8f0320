"""Incremental tabular Q-learning over page clusters: "which next page leads to the most value?".

A state is the page cluster a visitor is on; an action is the cluster they go to next, or
``EXIT`` when the session ends there. The semantics, shared by :class:`QRow` (one cluster's
row, the unit the worker keeps on that cluster's partition) and :class:`QLearner` (the whole
table, for ``pagepilot evaluate`` and tests):

- **Reward** for arriving on page cluster ``a`` = its page value (see
  :mod:`stream.learning.pagevalue`) plus the revenue realised on that hit.
- **Discount** ``gamma`` = 0.9, as in the original study.
- **Learning rate** from the visit count of the (state, action) pair: ``alpha = n ** -omega``
  after the pair's ``n``-th visit, with ``omega`` in (0.5, 1] so that the values converge
  (``omega = 1`` is the plain running mean, slow to forget its first, poor targets).
- **Update** ``Q(s, a) += alpha * (r + gamma * V(a) - Q(s, a))`` with
  ``V(a) = max Q(a, .)`` over the actions visited from ``a`` (0 when none).
- **Terminal**: when the session ends on ``s`` the action is ``EXIT``, the target is the
  reward alone (usually 0), and ``V(EXIT) = 0``.

On a stationary stream the values converge to the answer of :func:`value_iteration`.

>>> learner = QLearner(["home", "cart", "checkout"])
>>> for _ in range(300):
...     learner.learn_one("home", "cart", reward=1.0)
...     learner.learn_one("cart", "checkout", reward=10.0)
...     learner.learn_one("checkout", EXIT, reward=0.0)
>>> learner.greedy("home"), round(learner.value("home"), 3)
('cart', 10.0)
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np

from stream.models import EXIT

__all__ = ["EXIT", "ClusterIndex", "QLearner", "QRow", "value_iteration"]


class ClusterIndex:
    """Page cluster names to row/column numbers and back; ``EXIT`` is the last action.

    Parameters
    ----------
    clusters
        The page clusters in a fixed order (e.g. ``PageClusterer.default().clusters``),
        without ``EXIT``.

    Examples
    --------
    >>> index = ClusterIndex(["home", "cart"])
    >>> index.actions, len(index), index.index(EXIT), index.name(1)
    (('home', 'cart', '(exit)'), 3, 2, 'cart')
    """

    def __init__(self, clusters: typing.Iterable[str]):
        self.clusters = tuple(clusters)
        if EXIT in self.clusters:
            raise ValueError(f"{EXIT!r} is added by the index itself: leave it out of the clusters")
        if len(set(self.clusters)) != len(self.clusters):
            raise ValueError(f"page clusters must be unique, got {self.clusters}")
        self.actions = (*self.clusters, EXIT)
        self._numbers = {name: i for i, name in enumerate(self.actions)}

    def __len__(self) -> int:
        """The number of actions: the clusters and ``EXIT``."""
        return len(self.actions)

    def index(self, name: str) -> int:
        """The number of a cluster (or ``EXIT``); KeyError for a name the index does not know."""
        try:
            return self._numbers[name]
        except (KeyError, TypeError):
            raise KeyError(f"unknown page cluster {name!r}: not one of the {len(self.clusters)} "
                           "clusters of this index (did the cluster rules change?)") from None

    def name(self, i: int) -> str:
        """The cluster (or ``EXIT``) with number ``i``."""
        if not 0 <= i < len(self.actions):
            raise IndexError(f"no page cluster number {i}: numbers run from 0 to "
                             f"{len(self.actions) - 1}")
        return self.actions[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClusterIndex) and other.clusters == self.clusters

    def __hash__(self) -> int:
        return hash(self.clusters)

    def __repr__(self) -> str:
        return f"ClusterIndex({len(self.clusters)} clusters + {EXIT})"


def _td_update(q: np.ndarray, visits: np.ndarray, action: int, reward: float,
               next_value: float, terminal: bool, gamma: float, omega: float) -> None:
    """The Q-learning step on one row, in place; both QRow and QLearner go through it."""
    if not 0 <= action < len(q):
        raise IndexError(f"action {action} out of range for a row of {len(q)} actions")
    n = int(visits[action]) + 1
    visits[action] = n
    target = reward if terminal else reward + gamma * next_value
    old = float(q[action])
    q[action] = old + n ** -omega * (target - old)


def _row_value(q: np.ndarray, visits: np.ndarray) -> float:
    """``max Q`` over the visited actions of a row, 0.0 when none is visited."""
    # In Python: for rows of tens of actions, NumPy's per-call cost is most of the work.
    return max((value for value, n in zip(q.tolist(), visits.tolist()) if n), default=0.0)


def _read_only(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` as a read-only ``dtype`` vector, copied unless it already is one."""
    array = np.asarray(array)
    if array.dtype != dtype or array.flags.writeable:
        array = np.array(array, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class QRow:
    """The Q-values and visit counts of one page cluster, over every action (``EXIT`` last).

    Rows are never mutated (their arrays are read-only): :meth:`learned` returns a new row,
    ready to be assigned to a table.

    Examples
    --------
    >>> row = QRow.empty(3).learned(1, reward=5.0, next_value=2.0, terminal=False,
    ...                             gamma=0.9, omega=0.7)
    >>> row.to_json(), row.value()
    ({'q': [0.0, 6.8, 0.0], 'visits': [0, 1, 0]}, 6.8)
    """

    q: np.ndarray
    visits: np.ndarray

    def __post_init__(self):
        q, visits = _read_only(self.q, np.float64), _read_only(self.visits, np.int64)
        if q.ndim != 1 or q.shape != visits.shape:
            raise ValueError(f"q and visits must be vectors of one length, got shapes "
                             f"{q.shape} and {visits.shape}")
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "visits", visits)

    @classmethod
    def empty(cls, n_actions: int) -> QRow:
        """A row with nothing learned yet."""
        return cls(np.zeros(n_actions, dtype=np.float64), np.zeros(n_actions, dtype=np.int64))

    def value(self) -> float:
        """``V(s)``: the highest Q over the visited actions (``EXIT`` included), else 0.0."""
        return _row_value(self.q, self.visits)

    def learned(self, action: int, reward: float, next_value: float, terminal: bool,
                gamma: float, omega: float) -> QRow:
        """A new row after one move to ``action`` (see the module docstring for the update)."""
        q, visits = self.q.copy(), self.visits.copy()
        _td_update(q, visits, action, reward, next_value, terminal, gamma, omega)
        q.flags.writeable = visits.flags.writeable = False
        row = object.__new__(QRow)  # the arrays are checked already: skip __post_init__
        object.__setattr__(row, "q", q)
        object.__setattr__(row, "visits", visits)
        return row

    def to_json(self) -> dict:
        return {"q": self.q.tolist(), "visits": self.visits.tolist()}

    @classmethod
    def from_json(cls, data: dict | None, n_actions: int) -> QRow:
        """A row from :meth:`to_json` (``None``: an empty row), padded to ``n_actions``.

        A row stored before the cluster set grew is shorter: zeros are inserted before
        its last entry (``EXIT`` stays last). This assumes the new clusters were added at
        the end of the cluster list; a row longer than ``n_actions`` raises ValueError.
        """
        if not data:
            return cls.empty(n_actions)
        q = np.asarray(data["q"], dtype=np.float64)
        visits = np.asarray(data["visits"], dtype=np.int64)
        missing = n_actions - len(q)
        if missing < 0 or len(q) == 0:
            raise ValueError(f"a stored Q row of {len(q)} actions does not fit "
                             f"{n_actions} actions (was the cluster set reduced?)")
        if missing:
            q = np.concatenate([q[:-1], np.zeros(missing), q[-1:]])
            visits = np.concatenate([visits[:-1], np.zeros(missing, dtype=np.int64), visits[-1:]])
        return cls(q, visits)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, QRow) and np.array_equal(self.q, other.q)
                and np.array_equal(self.visits, other.visits))

    __hash__ = None  # compared by value, holds arrays: not a dict key

    def __reduce__(self):
        return QRow, (self.q, self.visits)  # unpickled rows are read-only again


class QLearner:
    """The whole Q-table over page clusters, learned one transition at a time.

    Parameters
    ----------
    clusters
        The page clusters (the states), without ``EXIT``; ``EXIT`` is added as the last action.
    gamma
        Discount of future rewards, in [0, 1].
    omega
        Exponent of the learning rate ``alpha = n ** -omega``, in (0.5, 1].

    Examples
    --------
    >>> learner = QLearner(["home", "cart"], gamma=0.9)
    >>> learner.learn_one("home", "cart", reward=2.0)
    >>> learner.learn_one("home", EXIT, reward=0.0)
    >>> learner.q_row("home"), learner.greedy("home"), learner.greedy("home", exclude=["cart"])
    ({'cart': 2.0, '(exit)': 0.0}, 'cart', '(exit)')
    >>> learner.q_row("cart"), learner.greedy("cart")
    ({}, None)
    """

    def __init__(self, clusters: typing.Iterable[str], gamma: float = 0.9, omega: float = 0.7):
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if not 0.5 < omega <= 1.0:
            raise ValueError(f"omega must be in (0.5, 1] for Q-learning to converge, got {omega}")
        self.clusters = tuple(clusters)
        self.gamma = gamma
        self.omega = omega
        self._index = ClusterIndex(self.clusters)
        shape = (len(self.clusters), len(self._index))
        self._q = np.zeros(shape, dtype=np.float64)
        self._n = np.zeros(shape, dtype=np.int64)

    def _state(self, state: str) -> int:
        if state == EXIT:
            raise KeyError(f"{EXIT!r} is terminal: it is no state and has no Q row")
        return self._index.index(state)

    def learn_one(self, state: str, next_state: str, reward: float) -> None:
        """Learn that a session went from ``state`` to ``next_state`` and earned ``reward``.

        ``next_state`` is ``EXIT`` when the session ended on ``state`` (a terminal update).
        """
        s, a = self._state(state), self._index.index(next_state)
        terminal = next_state == EXIT
        next_value = 0.0 if terminal else _row_value(self._q[a], self._n[a])
        _td_update(self._q[s], self._n[s], a, reward, next_value, terminal,
                   self.gamma, self.omega)

    def value(self, state: str) -> float:
        """``V(state)``: the highest Q over its visited actions; 0.0 for ``EXIT`` or no visits."""
        if state == EXIT:
            return 0.0
        s = self._state(state)
        return _row_value(self._q[s], self._n[s])

    def q_row(self, state: str) -> dict[str, float]:
        """The Q-values of the actions visited from ``state``, by cluster name."""
        s = self._state(state)
        return {self._index.name(a): float(self._q[s, a]) for a in np.flatnonzero(self._n[s])}

    def greedy(self, state: str, exclude: typing.Iterable[str] = ()) -> str | None:
        """The visited action of highest Q from ``state``, ``EXIT`` included unless excluded.

        Ties go to the action listed first; ``None`` when no action is left.
        """
        excluded = set(exclude)
        best, best_q = None, -np.inf
        for action, q in self.q_row(state).items():
            if action not in excluded and q > best_q:
                best, best_q = action, q
        return best

    def row(self, state: str) -> QRow:
        """A copy of the row of ``state``, as the distributed worker would store it."""
        s = self._state(state)
        return QRow(self._q[s], self._n[s])  # QRow copies writeable arrays

    def __repr__(self) -> str:
        return (f"QLearner({len(self.clusters)} clusters, gamma={self.gamma}, "
                f"omega={self.omega}, {int(self._n.sum())} transitions learned)")


def value_iteration(allowed: typing.Mapping[str, typing.Collection[str]],
                    rewards: typing.Mapping[str, float], gamma: float,
                    tol: float = 1e-10) -> dict[tuple[str, str], float]:
    """The optimal ``Q*`` of the deterministic MDP of page clusters.

    From state ``s`` the visitor may go to any ``a`` in ``allowed[s]`` and earns
    ``rewards.get(a, 0.0)`` on arrival; ``EXIT`` (allowed where listed) is terminal::

        Q*(s, a) = rewards[a] + gamma * max(Q*(a, b) for b in allowed[a])

    with the max taken as 0 when ``a`` is ``EXIT`` or has no allowed moves. Iterates until
    no value changes by more than ``tol``.

    Parameters
    ----------
    allowed
        The possible next clusters of each cluster.
    rewards
        The reward for arriving on each cluster (missing: 0).
    gamma
        Discount, in [0, 1).
    tol
        Stop when the largest change of one sweep is at most this.

    Examples
    --------
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
