"""Properties of the validator: any bytes end as a PageView or an InvalidEvent with a reason,
never another exception and never a hang; accepted events round-trip unchanged.

Examples per property are set below (about 2,200 in all, ~6 s); CI runs the same examples
every time (``derandomize``), a local run draws new ones. See tests/strategies.py.
"""

from __future__ import annotations

import io
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from producers.replay import encode
from producers.writers import write_pagepilot
from stream.core.models import PageView
from stream.core.validation import InvalidEvent, parse_pageview
from tests.strategies import (CHARACTERS, PROPERTIES, SPECIAL_TOKENS, SURROGATES, Pairs, Raw,
                              assert_sound, damaged, dumps, json_values, mutated, no_hang,
                              outcome, page_views, texts, to_bytes)

FIELDS = tuple(PageView._options.fields)


@settings(PROPERTIES, max_examples=300)
@given(view=page_views())
@no_hang
def test_valid_page_views_round_trip_through_every_serialisation(view):
    # Long non-ASCII texts can exceed the default message size, a separate rule (below).
    line = io.StringIO()
    write_pagepilot(line, [view])
    for raw in (encode(view), json.dumps(view.asdict(), ensure_ascii=False).encode(),
                line.getvalue().encode()):
        assert parse_pageview(raw, max_bytes=len(raw)) == view
    assert_sound(view)


@settings(PROPERTIES, max_examples=200)
@given(view=page_views(), dropped=st.sets(st.sampled_from(FIELDS[5:])),
       nulls=st.sets(st.sampled_from(FIELDS[5:])), whole_revenue=st.booleans())
@no_hang
def test_optional_fields_left_out_or_null_take_their_defaults(view, dropped, nulls,
                                                              whole_revenue):
    data = {name: None if name in nulls else value for name, value in view.asdict().items()
            if name not in dropped}
    if whole_revenue and data.get("revenue") is not None:
        data["revenue"] = int(data["revenue"])
    written = {name: value for name, value in data.items() if value is not None}
    raw = json.dumps(data).encode()
    accepted = parse_pageview(raw, max_bytes=len(raw))
    assert accepted.asdict() == {**PageView(**{k: data[k] for k in FIELDS[:5]}).asdict(),
                                 **written}
    assert isinstance(accepted.revenue, float)
    assert_sound(accepted)


@settings(PROPERTIES, max_examples=500)
@given(raw=st.binary(max_size=400) | page_views().map(encode).flatmap(damaged))
@example(raw=b"")
@example(raw=b"\xef\xbb\xbf{}")
@example(raw=b"[" * 100_000)
@example(raw=b"\xff\xfe{\x00}\x00")
@no_hang
def test_any_bytes_end_in_a_page_view_or_a_reason(raw):
    result = outcome(raw)
    if isinstance(result, PageView):
        assert_sound(result)


@settings(PROPERTIES, max_examples=400)
@given(data=page_views().map(PageView.asdict).flatmap(mutated),
       ensure_ascii=st.booleans())
@no_hang
def test_near_valid_messages_end_in_a_page_view_or_a_reason(data, ensure_ascii):
    result = outcome(to_bytes(dumps(data, ensure_ascii)))
    if isinstance(result, PageView):
        assert_sound(result)  # also: accepting is idempotent, the re-encoded view is the same


@settings(PROPERTIES, max_examples=400)
@given(view=page_views(), name=st.sampled_from(FIELDS) | st.text(max_size=10),
       value=json_values | texts() | st.text(SURROGATES | CHARACTERS, max_size=10)
       | st.sampled_from(["\u0000", "\x1b[31m", "\u202e", "\U0001f600\u200d\U0001f4a9"]),
       ensure_ascii=st.booleans())
@no_hang
def test_one_field_of_any_value_is_taken_as_it_is_or_rejected(view, name, value,
                                                               ensure_ascii):
    data = {**view.asdict(), name: value}
    result = outcome(to_bytes(dumps(data, ensure_ascii)))
    if isinstance(result, PageView):
        assert_sound(result)
        if not isinstance(value, Raw) and value is not None:
            assert getattr(result, name) == value


@settings(PROPERTIES, max_examples=200)
@given(view=page_views(), name=st.sampled_from(FIELDS), token=st.sampled_from(SPECIAL_TOKENS))
@no_hang
def test_special_json_tokens_in_any_field_are_rejected_or_taken(view, name, token):
    result = outcome(dumps({**view.asdict(), name: Raw(token)}).encode(), max_bytes=10**6)
    if token in ("NaN", "Infinity", "-Infinity"):
        assert isinstance(result, InvalidEvent) and "is not a number" in str(result)
    if isinstance(result, PageView):
        assert_sound(result)


@settings(PROPERTIES, max_examples=100)
@given(view=page_views(), name=st.sampled_from(FIELDS), value=json_values)
@no_hang
def test_a_repeated_key_is_always_rejected(view, name, value):
    pairs = Pairs(view.asdict().items())
    pairs.append((name, value))
    result = outcome(dumps(pairs).encode(), max_bytes=10**6)
    assert isinstance(result, InvalidEvent)


@settings(PROPERTIES, max_examples=100)
@given(view=page_views(), max_bytes=st.integers(0, 400))
@no_hang
def test_a_message_over_the_size_limit_is_always_rejected(view, max_bytes):
    raw = encode(view)
    result = outcome(raw, max_bytes)
    if len(raw) > max_bytes:
        assert isinstance(result, InvalidEvent) and "exceeds the limit" in str(result)
    else:
        assert result == view
