"""A plain CSV clickstream as PageView records, through a mapping of our fields to columns.

Required: ``session_id``, ``timestamp`` (epoch seconds, epoch milliseconds or ISO 8601;
ISO times without an offset are UTC) and ``page_path`` (a path or a full URL). Optional:
``event_id`` (default: session id and line number), ``visitor_id`` (default: the session
id), ``page_title``, ``hit_type`` (default: TRANSACTION when there is revenue), ``revenue``,
``device``, ``channel``, ``country``, ``hit_number``. A field left out of the mapping is
read from the column of the same name when the header has one; ``page_path`` also from a
column with a common name for it (``PAGE_COLUMNS``, case-insensitive, the first one present).

>>> columns = Columns.from_header(["sid", "ts", "page"], parse_column_map(
...     "session_id=sid,timestamp=ts,page_path=page"), "clicks.csv")
>>> row = columns.page_view(["s1", "2017-08-01T12:00:00Z", "https://x.com/home"], line=2)
>>> row.event_id, row.timestamp, row.page_path
('s1-2', 1501588800000, '/home')
"""

from __future__ import annotations

import dataclasses
import datetime
import math

from producers.bigquery import page_path
from stream.core.models import PageView
from stream.core.validation import InvalidEvent, validate_pageview

REQUIRED = ("session_id", "timestamp", "page_path")
OPTIONAL = ("event_id", "visitor_id", "page_title", "hit_type", "revenue", "device",
            "channel", "country", "hit_number")
FIELDS = REQUIRED + OPTIONAL
SECONDS_BELOW = 10**11  # 1e11 s is the year 5138, 1e11 ms is 1973: smaller means seconds
# Names exports give the page column, in order of preference when a header has several.
PAGE_COLUMNS = ("page_path", "page", "url", "page_url", "path", "item", "item_id")


def parse_column_map(text: str) -> dict[str, str]:
    """Parse ``"session_id=sid,timestamp=ts"`` into ``{field: column}``.

    >>> parse_column_map("session_id=sid, timestamp=ts")
    {'session_id': 'sid', 'timestamp': 'ts'}
    """
    mapping = {}
    for pair in filter(str.strip, text.split(",")):
        field, equals, column = (part.strip() for part in pair.partition("="))
        if not equals or not field or not column:
            raise ValueError(f"column mapping {pair.strip()!r} is not field=column")
        mapping[field] = column
    _check_fields(mapping)
    return mapping


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where each field is in the rows of a CSV file whose header has ``width`` columns."""

    index: dict[str, int]
    width: int

    @classmethod
    def from_header(cls, header: list[str], columns: dict[str, str] | None,
                    source: object) -> Columns:
        """Resolve a mapping against a header; ValueError naming ``source`` if it cannot."""
        _check_fields(columns or {})
        names = [name.strip() for name in header]
        wanted = {field: field for field in FIELDS if field in names} | dict(columns or {})
        for field, column in wanted.items():
            if column not in names:
                raise ValueError(f"{source}: column {column!r} (for {field}) is not in the "
                                 f"header {names}")
        page = wanted.get("page_path") or _page_column(names, set(wanted.values()))
        wanted |= {"page_path": page} if page else {}
        for field in REQUIRED:
            if field not in wanted:
                also = (f" or name it {', '.join(PAGE_COLUMNS)}"
                        if field == "page_path" else "")
                raise ValueError(f"{source}: no column for {field}; map one with "
                                 f"{field}=<column>{also}")
        return cls({field: names.index(column) for field, column in wanted.items()}, len(names))

    def page_view(self, values: list[str], line: int) -> PageView:
        """One row as a validated PageView; raise InvalidEvent with the reason."""
        if len(values) != self.width:
            raise InvalidEvent(f"expected {self.width} fields as in the header, got {len(values)}")
        text = {field: values[at].strip() or None for field, at in self.index.items()}
        session_id = text["session_id"]
        revenue = _number(text.get("revenue"), "revenue", float)
        return validate_pageview({
            **text, "event_id": text.get("event_id") or f"{session_id}-{line}",
            "visitor_id": text.get("visitor_id") or session_id,
            "timestamp": epoch_ms(text["timestamp"]) if text["timestamp"] else None,
            "page_path": page_path(text["page_path"]) if text["page_path"] else None,
            "hit_type": (text.get("hit_type") or ("TRANSACTION" if revenue else "PAGE")).upper(),
            "revenue": revenue,
            "hit_number": _number(text.get("hit_number"), "hit_number", int)})


def _page_column(names: list[str], taken: set[str]) -> str | None:
    """The header's page column by a common name (any case), unless mapped to another field.

    >>> _page_column(["sid", "URL", "Page_Path"], set()), _page_column(["url"], {"url"})
    ('Page_Path', None)
    """
    by_name = {name.lower(): name for name in reversed(names) if name not in taken}
    return next((by_name[alias] for alias in PAGE_COLUMNS if alias in by_name), None)


def epoch_ms(value: str) -> int:
    """Milliseconds since the epoch from epoch seconds, epoch milliseconds or ISO 8601.

    >>> epoch_ms("1501588800"), epoch_ms("1501588800123"), epoch_ms("2017-08-01 12:00:00")
    (1501588800000, 1501588800123, 1501588800000)
    """
    try:
        number = float(value)
    except ValueError:
        return _iso_ms(value)
    if not math.isfinite(number):
        raise InvalidEvent(f"timestamp {value!r} is not a number")
    exact = int(value) if value.lstrip("+-").isdigit() else number
    return round(exact * 1000) if abs(exact) < SECONDS_BELOW else round(exact)


def _iso_ms(value: str) -> int:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"timestamp {value!r} is not epoch seconds, epoch milliseconds "
                           "or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (moment - epoch) // datetime.timedelta(milliseconds=1)


def _number(value: str | None, name: str, kind: type) -> int | float | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise InvalidEvent(f"{name} {value!r} is not {expected}") from None


def _check_fields(mapping: dict[str, str]) -> None:
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} in the column mapping; "
                         f"fields are {', '.join(FIELDS)}")
