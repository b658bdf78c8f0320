"""What the report measures per session, with Google Analytics' definitions, as sums of
per-decision rewards (so that every estimator can weight and add them the same way).

- **value per session**: transaction revenue per session, in the currency of the input.
  It is what page values are made of (GA credits a session's revenue to every page it
  viewed before buying); a recommendation pays only if the visitors it moves buy more.
- **conversion rate**: transactions per session (GA's e-commerce conversion rate).
- **bounce rate**: share of sessions with a single page view.
- **pages per session**: page views per session.
- **time on page**: seconds from a page view to the next one of the same session, averaged
  over page views that have a next one (GA: the last page of a session has no time on
  page, and bounces add nothing).

The per-decision rewards (``REWARDS``) are: the revenue of the next page view, whether it
carries a transaction, a bounce (leaving from the landing page), a move (not leaving),
and the time on page of a move. The landing page view's own revenue is a per-session
constant that no recommendation changes.

>>> landing = Landing(value=1.0, transactions=0.01)
>>> outcome = outcomes(np.array([4.0, 0.02, 0.5, 3.0, 90.0]), landing)
>>> outcome["value"], outcome["pages"], outcome["time_on_page"]
(5.0, 4.0, 30.0)
"""

from __future__ import annotations

import dataclasses

import numpy as np

REWARDS = ("revenue", "transaction", "bounce", "move", "dwell")
METRICS = ("value", "conversion", "bounce_rate", "pages", "time_on_page")
LABELS = {"value": "value per session ($)", "conversion": "conversion rate",
          "bounce_rate": "bounce rate", "pages": "pages per session",
          "time_on_page": "time on page (s)"}
PERCENT = {"conversion", "bounce_rate"}  # shown as percentages


@dataclasses.dataclass(frozen=True)
class Landing:
    """Per-session means of what the landing page view itself brings."""

    value: float = 0.0
    transactions: float = 0.0


def outcomes(rewards: np.ndarray, landing: Landing) -> dict[str, float]:
    """The metrics from per-session expected sums of ``REWARDS`` (last axis)."""
    revenue, transaction, bounce, move, dwell = np.moveaxis(np.asarray(rewards, float), -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        time_on_page = np.where(move > 0, dwell / np.where(move > 0, move, 1.0), np.nan)
    values = (revenue + landing.value, transaction + landing.transactions, bounce, 1.0 + move,
              time_on_page)
    return {name: (float(v) if np.ndim(v) == 0 else v) for name, v in zip(METRICS, values)}
