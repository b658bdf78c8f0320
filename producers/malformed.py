"""Malformed page-view messages of every kind, to show and test the dead-letter path.

>>> [kind for kind, _key, _value in malformed_messages(3)]
['not JSON', 'invalid UTF-8', 'NaN revenue']
"""

from __future__ import annotations

import json

_GOOD = {"event_id": "bad-{n}", "session_id": "bad-session-{n}", "visitor_id": "v",
         "timestamp": 1_501_591_568_000, "page_path": "/home"}


def _message(n: int, **changes) -> bytes:
    data = {key: value.format(n=n) if isinstance(value, str) else value
            for key, value in _GOOD.items()}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not _DROP}).encode()


_DROP = object()

KINDS = {
    "not JSON": lambda n: b"{this is not json",
    "invalid UTF-8": lambda n: b'{"event_id": "\xff\xfe"}',
    "NaN revenue": lambda n: _message(n).replace(b"}", b', "revenue": NaN}'),
    "Infinity revenue": lambda n: _message(n).replace(b"}", b', "revenue": Infinity}'),
    "missing field": lambda n: _message(n, page_path=_DROP),
    "wrong type": lambda n: _message(n, timestamp="yesterday"),
    "negative timestamp": lambda n: _message(n, timestamp=-5),
    "far-future timestamp": lambda n: _message(n, timestamp=4_102_444_800_000),
    "unknown hit type": lambda n: _message(n, hit_type="SCREENVIEW"),
    "duplicate key": lambda n: _message(n).replace(b"}", b', "page_path": "/x"}'),
    "deep nesting": lambda n: b"[" * 5000 + b"]" * 5000,
    "oversized": lambda n: _message(n, page_title="x" * 40_000),
    "not an object": lambda n: b"[1, 2, 3]",
    "empty key": lambda n: _message(n),  # valid JSON; the message key is empty (see below)
}


def malformed_messages(count: int) -> list[tuple[str, bytes, bytes]]:
    """``count`` malformed messages as ``(kind, key, value)``, cycling through every kind."""
    kinds = list(KINDS.items())
    result = []
    for n in range(count):
        kind, make = kinds[n % len(kinds)]
        key = b"" if kind == "empty key" else f"bad-session-{n}".encode()
        result.append((kind, key, make(n)))
    return result
