"""Incremental tabular Q-learning over page clusters: "which next page leads to the most value?".

A state is the page cluster a visitor is on; an action is the cluster they go to next, or
``EXIT`` when the session ends there. Actions are names, not numbers: clusters may appear
while the worker runs (cluster rules with capture groups or ``per_page``), so a
:class:`QRow` (one cluster's row, the unit the worker keeps on that cluster's partition)
holds the actions visited from its cluster, whatever they are:

- **Reward** for arriving on page cluster ``a`` = its page value (see
  :mod:`stream.core.learning.pagevalue`) plus the revenue realised on that hit.
- **Discount** ``gamma`` = 0.9, as in the original study.
- **Learning rate** from the visit count of the (state, action) pair: ``alpha = n ** -omega``
  after the pair's ``n``-th visit, with ``omega`` in (0.5, 1] so that the values converge
  (``omega = 1`` is the plain running mean, slow to forget its first, poor targets).
- **Update** ``Q(s, a) += alpha * (r + gamma * V(a) - Q(s, a))`` with
  ``V(a) = max Q(a, .)`` over the actions visited from ``a`` (0 when none).
- **Terminal**: when the session ends on ``s`` the action is ``EXIT``, the target is the
  reward alone (usually 0), and ``V(EXIT) = 0``.

On a stationary stream the values converge to the optimal Q of the clusters' MDP (the tests
check this against value iteration).

>>> home = cart = QRow()
>>> for _ in range(300):
...     home = home.learned("cart", 1.0, cart.value(), False, gamma=0.9, omega=0.7)
...     cart = cart.learned("checkout", 10.0, 0.0, False, gamma=0.9, omega=0.7)
>>> round(home.q("cart"), 3), home.q("search"), home.visits("cart")
(10.0, 0.0, 300)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterator, Mapping

from stream.core.models import EXIT

__all__ = ["EXIT", "QRow"]

log = logging.getLogger(__name__)
_warned_old_form = False


@dataclasses.dataclass(frozen=True)
class QRow:
    """The Q-values and visit counts of one page cluster, per action visited from it.

    ``actions`` maps an action's name (a cluster, or ``EXIT``) to ``(q, visits)``, with
    ``visits >= 1``: an action never visited is not there, and its Q is 0.0. Rows are never
    mutated (by convention: nothing writes to ``actions``): :meth:`learned` returns a new
    row, ready to be assigned to a table.

    Examples
    --------
    >>> row = QRow().learned("cart", reward=5.0, next_value=2.0, terminal=False,
    ...                      gamma=0.9, omega=0.7)
    >>> row.to_json(), row.value(), row.q("home")
    ({'actions': {'cart': [6.8, 1]}}, 6.8, 0.0)
    """

    actions: Mapping[str, tuple[float, int]] = dataclasses.field(default_factory=dict)

    __hash__ = None  # compared by value, holds a dict: not a dict key

    def q(self, action: str) -> float:
        """``Q(s, action)``; 0.0 for an action never visited."""
        entry = self.actions.get(action)
        return entry[0] if entry is not None else 0.0

    def visits(self, action: str) -> int:
        entry = self.actions.get(action)
        return entry[1] if entry is not None else 0

    def items(self) -> Iterator[tuple[str, tuple[float, int]]]:
        """``(action, (q, visits))`` of every visited action."""
        return iter(self.actions.items())

    def value(self) -> float:
        """``V(s)``: the highest Q over the visited actions (``EXIT`` included), else 0.0."""
        return max((q for q, _n in self.actions.values()), default=0.0)

    def learned(self, action: str, reward: float, next_value: float, terminal: bool,
                gamma: float, omega: float) -> QRow:
        """A new row after one move to ``action`` (see the module docstring for the update)."""
        old, n = self.actions.get(action, (0.0, 0))
        n += 1
        target = reward if terminal else reward + gamma * next_value
        actions = dict(self.actions)
        actions[action] = (old + n ** -omega * (target - old), n)
        return QRow(actions)

    def to_json(self) -> dict:
        return {"actions": {name: [q, n] for name, (q, n) in self.actions.items()}}

    @classmethod
    def from_json(cls, data: dict | None) -> QRow:
        """A row from :meth:`to_json` (``None``: an empty row).

        A row in the old form (``{"q": [...], "visits": [...]}``, arrays in the order of the
        cluster rules of the time) cannot be read without that order, which nothing keeps:
        it is taken as empty, with one warning per process, and learned again.
        """
        if not data:
            return cls()
        if "actions" not in data:
            _warn_old_form()
            return cls()
        actions = {str(name): (float(q), int(n)) for name, (q, n) in data["actions"].items()}
        if any(n < 1 for _q, n in actions.values()):
            raise ValueError("a stored Q row has an action with no visits")
        return cls(actions)


def _warn_old_form() -> None:
    global _warned_old_form
    if not _warned_old_form:
        _warned_old_form = True
        log.warning("a stored Q row is in the old form (arrays by cluster rule position): "
                    "its Q-values are dropped and learned again")
