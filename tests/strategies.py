"""Hypothesis settings and strategies shared by the property tests of the validator and loaders.

Valid page views are drawn over all of Unicode (emoji, control characters, long texts)
except lone surrogates, which no UTF-8 message can carry; the near-valid messages, JSON
mutations and corrupt lines are what a broken producer or a damaged file can hold.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import signal
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from producers.replay import encode
from stream.core.models import HIT_TYPES, PageView
from stream.core.validation import (MAX_REVENUE, MAX_TEXT, MIN_TIMESTAMP_MS, InvalidEvent,
                                    parse_pageview)

# --- settings --------------------------------------------------------------------------------

CI = os.environ.get("CI") == "true"
HANG_SECONDS = 20  # one example running this long is hung; the deadline reports slow ones
PROPERTIES = settings(
    deadline=datetime.timedelta(seconds=2),  # an example this slow fails as too slow
    derandomize=CI,  # the same examples on every CI run; new ones on every local run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    print_blob=True,
)


class Hung(Exception):
    """An example that did not finish within HANG_SECONDS."""


def no_hang(test: Callable) -> Callable:
    """Run each example of ``test`` under an alarm that raises Hung where it is stuck.

    A deadline judges an example only once it ends; this ends one that never would, and
    Hypothesis reports it like any other failure. Put it below ``@given``.
    """
    @functools.wraps(test)
    def guarded(*args, **kwargs):
        def hung(_signum, _frame):
            raise Hung(f"an example ran for more than {HANG_SECONDS} s")

        previous = signal.signal(signal.SIGALRM, hung)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        try:
            return test(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return guarded


# --- valid page views ------------------------------------------------------------------------

LATEST_MS = 1_735_689_600_000  # 2025-01-01: safely before "now", so never in the future
NOT_AVAILABLE = "not available in demo dataset"

CHARACTERS = st.characters(exclude_categories=("Cs",))  # all of Unicode but lone surrogates
SURROGATES = st.characters(categories=("Cs",))


def texts(min_size: int = 0, max_size: int = 30, stripped: bool = False,
          alphabet: st.SearchStrategy[str] = CHARACTERS, long: bool = True
          ) -> st.SearchStrategy[str]:
    """Unicode text, ``long``: sometimes as long as a field may be; ``stripped``: without
    surrounding white space."""
    short = st.text(alphabet, min_size=min_size, max_size=max_size)
    longest = st.builds(lambda head, n: (head * n)[:MAX_TEXT],
                        st.text(alphabet, min_size=1, max_size=3),
                        st.integers(MAX_TEXT - 10, MAX_TEXT))
    drawn = st.one_of(short, short, short, longest) if long else short
    drawn = drawn.filter(lambda text: text != NOT_AVAILABLE and len(text) >= min_size)
    return drawn.filter(lambda text: text == text.strip()) if stripped else drawn


def names(stripped: bool = False, alphabet: st.SearchStrategy[str] = CHARACTERS,
          long: bool = True) -> st.SearchStrategy[str]:
    """A required text: at least one character that is not white space."""
    return texts(1, 20, stripped, alphabet, long).filter(str.strip)


timestamps = st.integers(MIN_TIMESTAMP_MS, LATEST_MS)
revenues = st.floats(0.0, MAX_REVENUE, allow_nan=False, allow_infinity=False)
hit_numbers = st.one_of(st.integers(0, 500), st.integers(0, 2**63 - 1))


def page_views(text: st.SearchStrategy[str] | None = None,
               name: st.SearchStrategy[str] | None = None,
               path: st.SearchStrategy[str] | None = None,
               hit_types: st.SearchStrategy[str] = st.sampled_from(HIT_TYPES)):
    """Valid PageViews; the text strategies can be narrowed for formats that change text."""
    text = texts() if text is None else text
    name = names() if name is None else name
    return st.builds(PageView, event_id=name, session_id=name, visitor_id=name,
                     timestamp=timestamps, page_path=name if path is None else path,
                     page_title=text, hit_type=hit_types, revenue=revenues, device=text,
                     channel=text, country=text, hit_number=hit_numbers)


# --- JSON values and their mutations ----------------------------------------------------------

class Raw(str):
    """JSON text put into a message as it is: what ``json.dumps`` cannot or will not write."""


class Pairs(list):
    """A JSON object as a list of (key, value) pairs, so that it can repeat a key."""


SPECIAL_TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "9" * 5000,
    "-" + "9" * 5000, "1.5", "-0", "0.0", "true", "null", "[]", "{}", '""', '" "',
    "[" * 3000 + "]" * 3000, '{"a":' * 3000 + "1" + "}" * 3000, '"\\ud800"', '"\\udfff x"',
    '"\\u0000"', '"' + "x" * (MAX_TEXT + 1) + '"', str(2**63), str(2**64), "-1",
    str(MIN_TIMESTAMP_MS - 1), str(MIN_TIMESTAMP_MS), str(LATEST_MS), str(10**17),
]
special_values = st.sampled_from(SPECIAL_TOKENS).map(Raw)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    texts(max_size=10), st.text(SURROGATES | CHARACTERS, max_size=5))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=8), inner, max_size=3), max_leaves=8) | special_values


def dumps(value: object, ensure_ascii: bool = True) -> str:
    """JSON text of ``value``; a list of pairs is an object (keys may repeat), Raw is verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(key, ensure_ascii=ensure_ascii)}: "
                               f"{dumps(item, ensure_ascii)}" for key, item in value) + "}"
    if isinstance(value, dict):
        return dumps(Pairs(value.items()), ensure_ascii)
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item, ensure_ascii) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ensure_ascii)


def to_bytes(text: str) -> bytes:
    """UTF-8, with lone surrogates encoded as the invalid byte sequences they would be."""
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw, value: object) -> object:
    """``value`` with one place inside it replaced, removed, duplicated or added to."""
    if isinstance(value, (dict, Pairs)) and value and draw(st.booleans()):
        pairs = Pairs(value.items() if isinstance(value, dict) else value)
        at = draw(st.integers(0, len(pairs) - 1))
        key, item = pairs[at]
        change = draw(st.sampled_from(["inner", "replace", "remove", "duplicate", "add"]))
        if change == "inner":
            pairs[at] = (key, draw(mutated(item)))
        elif change == "replace":
            pairs[at] = (key, draw(json_values))
        elif change == "remove":
            del pairs[at]
        elif change == "duplicate":
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(json_values)))
        else:
            pairs.append((draw(st.text(max_size=12)), draw(json_values)))
        return pairs
    if isinstance(value, list) and value and draw(st.booleans()):
        items = list(value)
        at = draw(st.integers(0, len(items) - 1))
        items[at] = draw(mutated(items[at]) | json_values)
        return items
    return draw(json_values)


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes inserted or flipped, or in another encoding."""
    change = draw(st.sampled_from(["truncate", "insert", "flip", "bom", "latin-1", "utf-16"]))
    at = draw(st.integers(0, len(data)))
    if change == "truncate":
        return data[:at]
    if change == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    if change == "flip":
        if not data:
            return b"\xff"
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if change == "bom":
        return b"\xef\xbb\xbf" + data
    text = data.decode("utf-8", "surrogatepass")
    return text.encode(change, "surrogatepass" if change == "utf-16" else "replace")


def is_json_object(line: bytes) -> bool:
    """Whether a line decodes to a JSON object at all (the oracle of 'certainly a bad row')."""
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


# --- checks ----------------------------------------------------------------------------------

def outcome(raw: bytes, max_bytes: int = 16384) -> PageView | InvalidEvent:
    """What the validator makes of ``raw``: a PageView or the InvalidEvent, which has a reason.

    Any other exception propagates and fails the property.
    """
    try:
        return parse_pageview(raw, max_bytes)
    except InvalidEvent as exc:
        assert str(exc).strip(), f"rejected without a reason: {raw!r:.200}"
        return exc


def assert_sound(view: PageView) -> None:
    """An accepted page view obeys every documented rule, survives the wire form unchanged
    (whatever its size) and can be written as UTF-8, as the Kafka key and the files are."""
    assert isinstance(view, PageView)
    for name, kind in PageView._options.fields.items():
        value = getattr(view, name)
        assert type(value) is kind, (name, value)
        if kind is str:
            value.encode("utf-8")
            assert len(value) <= MAX_TEXT
    assert all(getattr(view, name).strip()
               for name in ("event_id", "session_id", "visitor_id", "page_path"))
    assert view.timestamp >= MIN_TIMESTAMP_MS and view.hit_type in HIT_TYPES
    assert 0 <= view.revenue <= MAX_REVENUE and view.hit_number >= 0
    wire = encode(view)
    wire.decode("utf-8")
    again = parse_pageview(wire, max_bytes=len(wire))
    assert again == view and again.asdict() == view.asdict()
