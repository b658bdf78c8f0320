import json
import re
import time

import pytest

from producers.malformed import KINDS, malformed_messages
from stream.core.validation import InvalidEvent, parse_pageview, validate_pageview

GOOD = {"event_id": "e1", "session_id": "s1", "visitor_id": "v1",
        "timestamp": 1_501_591_568_000, "page_path": "/home", "page_title": "Home",
        "hit_type": "TRANSACTION", "revenue": 12.5, "device": "desktop",
        "channel": "Direct", "country": "Germany", "hit_number": 3}


def test_a_valid_page_view_round_trips_unchanged():
    view = parse_pageview(json.dumps(GOOD).encode())
    assert view.asdict() == GOOD


def test_integer_revenue_is_accepted_as_a_number():
    assert parse_pageview(json.dumps({**GOOD, "revenue": 12}).encode()).revenue == 12.0


def test_nulls_of_optional_fields_take_their_defaults():
    view = parse_pageview(json.dumps({**GOOD, "device": None, "revenue": None}).encode())
    assert (view.device, view.revenue) == ("", 0.0)


@pytest.mark.parametrize("kind, key, value",
                         [m for m in malformed_messages(len(KINDS)) if m[0] != "empty key"])
def test_every_kind_of_malformed_message_is_rejected_with_a_reason(kind, key, value):
    with pytest.raises(InvalidEvent) as info:
        parse_pageview(value)
    assert str(info.value)


@pytest.mark.parametrize("change, reason", [
    ({"extra": 1}, "unknown field: extra"),
    ({"timestamp": True}, "field timestamp must be int, got bool"),
    ({"timestamp": 1_501_591_568}, r"looks like seconds, not milliseconds \(x1000\?\)"),
    ({"timestamp": -5}, "is before 1970"),
    ({"session_id": "  "}, "field session_id is empty"),
    ({"revenue": -3.0}, "revenue -3.0 is not between"),
    ({"hit_number": -1}, "hit_number is negative"),
    ({"page_title": "x" * 3000}, "longer than 2048"),
])
def test_field_rules(change, reason):
    with pytest.raises(InvalidEvent, match=reason):
        validate_pageview({**GOOD, **change})


@pytest.mark.parametrize("timestamp", [
    804_571_200_000,      # 1995-07-01, the NASA server log
    100_000_000_000,      # 1973-03-03, the earliest accepted
])
def test_old_timestamps_in_milliseconds_are_history_not_mistakes(timestamp):
    assert validate_pageview({**GOOD, "timestamp": timestamp}).timestamp == timestamp


def test_size_limit_is_checked_before_parsing():
    with pytest.raises(InvalidEvent, match="exceeds the limit of 100"):
        parse_pageview(json.dumps(GOOD).encode(), max_bytes=100)


# Regressions found by the property tests (tests/stream/core/test_validation_properties.py).

@pytest.mark.parametrize("field, raw, reason", [
    ("hit_number", b"1" + b"0" * 5000, "not JSON: Exceeds the limit (4300 digits)"),
    ("revenue", b"1" + b"0" * 400, "field revenue is a number too large for a float"),
    ("page_title", b'"\\ud800"', "field page_title is not Unicode text: surrogates not allowed"),
])
def test_numbers_and_texts_python_cannot_hold_are_rejected_with_a_reason(field, raw, reason):
    others = json.dumps({name: value for name, value in GOOD.items() if name != field})
    message = others.encode()[:-1] + b', "%s": %s}' % (field.encode(), raw)
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        parse_pageview(message)


def test_many_keys_with_a_repeat_are_rejected_in_linear_time():
    keys = ",".join(f'"k{n}": 0' for n in range(100_000))
    message = ('{' + keys + ', "k99999": 1}').encode()
    started = time.perf_counter()
    with pytest.raises(InvalidEvent, match="duplicate key: k99999"):
        parse_pageview(message, max_bytes=len(message))
    assert time.perf_counter() - started < 5  # quadratic took minutes
