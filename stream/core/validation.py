"""Strict validation of page-view messages: bytes in, a PageView or a reason out.

>>> parse_pageview(b'{"event_id": "e1", "session_id": "s1", "visitor_id": "v1",'
...                b' "timestamp": 1501591568000, "page_path": "/home"}').page_path
'/home'
>>> try:
...     parse_pageview(b'{"event_id": "e1"}')
... except InvalidEvent as exc:
...     print(exc)
missing field: session_id
"""

from __future__ import annotations

import json
import math
import time

from stream.core.models import HIT_TYPES, PageView

# 1e11 ms is 1973-03-03: a smaller epoch-ms value is almost surely seconds (1.5e9 s read as
# ms is 1970-01-18), while real history (a 1995 server log) stays accepted.
MIN_TIMESTAMP_MS = 100_000_000_000
FUTURE_SLACK_MS = 24 * 3600 * 1000  # clocks drift, but not by more than a day
MAX_TEXT = 2048
MAX_REVENUE = 1e9

_REQUIRED = {"event_id": str, "session_id": str, "visitor_id": str,
             "timestamp": int, "page_path": str}
_OPTIONAL = {"page_title": str, "hit_type": str, "revenue": float, "device": str,
             "channel": str, "country": str, "hit_number": int}
_KINDS = {**_REQUIRED, **_OPTIONAL}


class InvalidEvent(ValueError):
    """A message that is not a valid page view; ``str(exc)`` is the reason."""


def parse_pageview(raw: bytes, max_bytes: int = 16384) -> PageView:
    """Decode and validate one message value; raise InvalidEvent with the reason."""
    if len(raw) > max_bytes:
        raise InvalidEvent(f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constants)
    except RecursionError:
        raise InvalidEvent("not JSON: nesting too deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except InvalidEvent:
        raise
    except ValueError as exc:  # an integer of more digits than Python converts
        raise InvalidEvent(f"not JSON: {str(exc).partition(';')[0]}") from None
    return validate_pageview(data)


def validate_pageview(data: object, now_ms: int | None = None) -> PageView:
    """Check a decoded JSON value field by field; raise InvalidEvent with the reason."""
    if not isinstance(data, dict):
        raise InvalidEvent(f"not a JSON object but {type(data).__name__}")
    unknown = sorted(set(data).difference(_KINDS))
    if unknown:
        raise InvalidEvent(f"unknown field: {unknown[0]}")
    for name in _REQUIRED:
        if data.get(name) is None:
            raise InvalidEvent(f"missing field: {name}")
    fields = {name: _typed(name, value, _KINDS[name])
              for name, value in data.items() if value is not None}
    _check_values(fields, now_ms if now_ms is not None else int(time.time() * 1000))
    return PageView(**fields)


def _typed(name: str, value: object, kind: type) -> object:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise InvalidEvent(f"field {name} is a number too large for a float") from None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidEvent(f"field {name} must be {kind.__name__}, got {type(value).__name__}")
    if kind is str and len(value) > MAX_TEXT:
        raise InvalidEvent(f"field {name} is longer than {MAX_TEXT} characters")
    if kind is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, from a JSON escape like \ud800
            raise InvalidEvent(f"field {name} is not Unicode text: {exc.reason} at "
                               f"character {exc.start}") from None
    return value


def _check_values(fields: dict, now_ms: int) -> None:
    for name in ("event_id", "session_id", "visitor_id", "page_path"):
        if not fields[name].strip():
            raise InvalidEvent(f"field {name} is empty")
    ts = fields["timestamp"]
    if ts < 0:
        raise InvalidEvent(f"timestamp {ts} is before 1970 (epoch milliseconds expected)")
    if ts < MIN_TIMESTAMP_MS:
        raise InvalidEvent(f"timestamp {ts} is before 1973-03-03: looks like seconds, not "
                           "milliseconds (x1000?)")
    if ts > now_ms + FUTURE_SLACK_MS:
        raise InvalidEvent(f"timestamp {ts} is more than a day in the future")
    if fields.get("hit_type", "PAGE") not in HIT_TYPES:
        raise InvalidEvent(f"unknown hit_type {fields['hit_type']!r}; expected one of {HIT_TYPES}")
    revenue = fields.get("revenue", 0.0)
    if not (math.isfinite(revenue) and 0 <= revenue <= MAX_REVENUE):
        raise InvalidEvent(f"revenue {revenue} is not between 0 and {MAX_REVENUE:g}")
    if fields.get("hit_number", 0) < 0:
        raise InvalidEvent("hit_number is negative")


def _no_duplicate_keys(pairs: list) -> dict:
    data = {}
    for key, value in pairs:
        if key in data:
            raise InvalidEvent(f"duplicate key: {key}")
        data[key] = value
    return data


def _no_constants(name: str) -> None:
    raise InvalidEvent(f"not JSON: {name} is not a number")
