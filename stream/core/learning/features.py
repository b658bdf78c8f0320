"""Features of a page view for the next-page classifier, from its session's context.

Categorical values stay strings (the classifier one-hot encodes them); counts and times
are log-scaled so that one long session does not dominate a linear model. ``history`` is
the session's clusters, most recent (the current one) first, at most ``HISTORY`` of them:
what the sequence model (:mod:`stream.core.learning.sequences`) reads.

>>> x = page_features(history=["cart", "home"], dwell_s=30.0, device="mobile",
...                   channel="Direct", timestamp_ms=1_501_591_568_000, landing="home", hits=3)
>>> x["previous"], x["hour"], round(x["log_dwell"], 3), round(x["log_hits"], 3)
('home', '12', 3.434, 1.386)
"""

from __future__ import annotations

import math

ENTRANCE = "(entrance)"
HISTORY = 10  # clusters of the session kept: the sequential rules look this far back


def page_features(*, history: list[str], dwell_s: float, device: str, channel: str,
                  timestamp_ms: int, landing: str, hits: int) -> dict:
    """Features of a page view: where the visitor came from, how, when, and how far in.

    ``history`` is the session's clusters, this page's first, ``dwell_s`` the time spent
    on the page before, ``hits`` the page views of the session before this one.
    """
    return {
        "history": history[:HISTORY],
        "previous": history[1] if len(history) > 1 else ENTRANCE,
        "landing": landing,
        "device": device or "unknown",
        "channel": channel or "unknown",
        "hour": str(timestamp_ms // 3_600_000 % 24),
        "log_dwell": math.log1p(max(dwell_s, 0.0)),
        "log_hits": math.log1p(hits),
    }
