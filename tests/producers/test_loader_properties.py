"""Properties of the loaders: any file ends as page views and bad rows with line numbers (or
a ValueError naming an unusable file), never another exception and never a hang; valid rows
round-trip, and the counts reconcile.

Files mix valid rows with corrupt ones (random bytes, truncated or re-encoded lines, deep
nesting, huge numbers), blank lines, BOMs, CRLF and gzip. Examples per property are set
below (about 1,400 files and 300 CSV rows in all, ~12 s); CI runs the same ones every time.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import gzip
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers import writers
from producers.clickstream import Columns
from producers.loaders import FORMATS, BadRow, LoadStats, detect_format, iter_rows
from producers.replay import ReplayStats, read_events
from stream.core.models import PageView
from stream.core.validation import MIN_TIMESTAMP_MS, InvalidEvent
from tests.strategies import (CHARACTERS, LATEST_MS, PROPERTIES, assert_sound, damaged, dumps,
                              is_json_object, mutated, names, no_hang, page_views, revenues,
                              texts, to_bytes)

NAMES = {"pagepilot": "views.ndjson", "ga360": "ga_sessions.json", "ga4": "events.json",
         "csv": "clicks.csv"}
DAY_MS = 24 * 3600 * 1000
BOM = b"\xef\xbb\xbf"
TEXT, NAME = texts(), names()
SHORT_NAME = names(long=False)  # for ids joined into longer ids, which must fit the limit
VISIT_ID = names(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="-"),
                 long=False)


@dataclasses.dataclass
class Line:
    """One line of a JSON-lines file and what reading it must give."""

    raw: bytes
    views: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    bad: bool = False


# --- valid lines of each JSON format ---------------------------------------------------------

@st.composite
def pagepilot_lines(draw) -> Line:
    view = draw(page_views())
    return Line(json.dumps(view.asdict(), ensure_ascii=draw(st.booleans())).encode(), [view])


@st.composite
def ga360_lines(draw) -> Line:
    """A session written by producers.writers, as BigQuery exports it."""
    visitor = draw(SHORT_NAME)
    session_id = f"{visitor}-{draw(VISIT_ID)}"
    start = draw(st.integers(MIN_TIMESTAMP_MS, LATEST_MS - DAY_MS))
    shared = {"device": draw(TEXT), "channel": draw(TEXT), "country": draw(TEXT)}
    hits = draw(st.lists(st.tuples(st.sampled_from(["PAGE", "TRANSACTION", "EVENT"]),
                                   st.integers(0, DAY_MS), NAME, TEXT,
                                   st.integers(0, 10**15)), min_size=1, max_size=4))
    written, views, skipped = [], [], []
    for number, (kind, offset, path, title, micros) in enumerate(hits, 1):
        revenue = micros / 1e6 if kind != "EVENT" and draw(st.booleans()) else 0.0
        view = PageView(event_id=f"{session_id}-{number}", session_id=session_id,
                        visitor_id=visitor, timestamp=start + offset * (number > 1),
                        page_path=path, page_title=title, hit_type=kind, revenue=revenue,
                        hit_number=number, **shared)
        written.append(view)
        if kind == "EVENT":
            skipped.append("EVENT")
        else:  # a PAGE hit with revenue is the purchase
            kind = "TRANSACTION" if revenue else kind
            views.append(PageView(**{**view.asdict(), "hit_type": kind}))
    return Line(json.dumps(writers.ga360_row(written)).encode(), views, skipped)


URL_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="?#"),
                   max_size=15)
MEDIA = {"organic": "Organic Search", "(none)": "Direct", "CPC": "Paid Search",
         "carrier pigeon": "(Other)", None: ""}


@st.composite
def ga4_lines(draw) -> Line:
    """A page_view, purchase or other event; the expected view's id is before tie numbering."""
    visitor = draw(SHORT_NAME)
    name = draw(st.sampled_from(["page_view", "purchase"]) | NAME)
    ga_session = draw(st.integers(0, 2**62) | SHORT_NAME)
    micros = draw(st.integers(MIN_TIMESTAMP_MS * 1000, LATEST_MS * 1000))
    path = "/" + draw(URL_TEXT.filter(lambda text: not text.startswith("/")))
    query = draw(URL_TEXT)
    url = draw(st.booleans())
    location = (f"https://shop.example.com{path}?{query}#top" if url else path)
    title, medium = draw(TEXT), draw(st.sampled_from(list(MEDIA)))
    revenue = draw(revenues) if name == "purchase" else 0.0
    params = [{"key": "ga_session_id", "value": {"int_value" if isinstance(ga_session, int)
                                                 else "string_value": ga_session}},
              {"key": "page_location", "value": {"string_value": location}},
              {"key": "page_title", "value": {"string_value": title}},
              {"key": "engagement_time_msec", "value": {"int_value": "11"}}]
    event = {"event_date": "20170801", "event_timestamp": str(micros), "event_name": name,
             "event_params": draw(st.permutations(params)), "user_pseudo_id": visitor,
             "device": {"category": draw(TEXT)}, "geo": {"country": draw(TEXT)},
             "traffic_source": {"medium": medium}, "ecommerce": {"purchase_revenue": revenue}}
    raw = json.dumps(event, ensure_ascii=draw(st.booleans())).encode()
    if name not in ("page_view", "purchase"):
        return Line(raw, skipped=[name])
    session_id = f"{visitor}-{ga_session}"
    return Line(raw, [PageView(
        event_id=f"{session_id}-{micros}", session_id=session_id, visitor_id=visitor,
        timestamp=micros // 1000, page_path=path + (f"?{query}" if url and query else ""),
        page_title=title, hit_type="PAGE" if name == "page_view" else "TRANSACTION",
        revenue=revenue, device=event["device"]["category"], channel=MEDIA[medium],
        country=event["geo"]["country"])])


VALID_LINES = {"pagepilot": pagepilot_lines(), "ga360": ga360_lines(), "ga4": ga4_lines()}


# --- corrupt and blank lines -----------------------------------------------------------------

@st.composite
def truncated(draw, lines: st.SearchStrategy[Line]) -> bytes:
    raw = draw(lines).raw
    return raw[:draw(st.integers(1, len(raw) - 1))]


def corrupt_lines(fmt: str) -> st.SearchStrategy[Line]:
    """Lines that are not a JSON object at all: exactly one bad row in every format."""
    valid = VALID_LINES[fmt]
    raw = st.one_of(
        st.binary(min_size=1, max_size=80), truncated(valid),
        valid.flatmap(lambda line: damaged(line.raw)),
        st.sampled_from([b"[" * 50_000, b'{"a": ' + b"7" * 5000 + b"}", b"NaN", b"[]",
                         b"null", b'"\\ud800"', b"{" + b"x" * 200_000, b"\x00\x00\x00{",
                         b"\xff\xfe{\x00}\x00", BOM + BOM + b"{}"]))
    raw = raw.map(lambda data: data.replace(b"\n", b""))
    return raw.filter(lambda data: data.strip() and not is_json_object(data)).map(
        lambda data: Line(data, bad=True))


blank_lines = st.sampled_from([b"", b"  ", b"\t", b"\r"]).map(Line)


def json_file(lines: list[Line], crlf: bool, last_newline: bool) -> bytes:
    data = (b"\r\n" if crlf else b"\n").join(line.raw for line in lines)
    return data + (b"\n" if last_newline and lines else b"")


def write(tmp_path: Path, name: str, data: bytes, gz: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


# --- checks ----------------------------------------------------------------------------------

def read(path: Path, fmt: str = "auto", columns: dict | None = None):
    """Rows and stats of a file, or the ValueError that says the file is unusable.

    Checks what holds for any file: only PageView and BadRow come out, bad rows have a line
    and a reason, accepted views pass the strict validator, and the counts match the rows.
    """
    stats = LoadStats()
    try:
        rows = list(iter_rows(path, fmt, columns, stats=stats))
    except ValueError as exc:
        assert str(path) in str(exc), exc
        return exc, stats
    lines = [row.line for row in rows if isinstance(row, BadRow)]
    assert lines == sorted(lines) and all(line >= 1 for line in lines)
    for row in rows:
        if isinstance(row, BadRow):
            assert isinstance(row.line, int) and row.reason.strip(), row
        else:
            assert_sound(row)
    assert (stats.events, stats.bad_rows) == (len(rows) - len(lines), len(lines))
    return rows, stats


def expected_rows(fmt: str, lines: list[Line]) -> list:
    """The rows in file order; GA4 ids numbered ``-1``, ``-2`` on timestamp ties."""
    rows, ties = [], collections.Counter()
    for number, line in enumerate(lines, 1):
        if line.bad:
            rows.append(number)
        for view in line.views:
            if fmt == "ga4":
                ties[view.event_id] += 1
                if ties[view.event_id] > 1:
                    view = PageView(**{**view.asdict(),
                                       "event_id": f"{view.event_id}-{ties[view.event_id] - 1}"})
            rows.append(view)
    return rows


def as_expected(rows: list) -> list:
    return [row.line if isinstance(row, BadRow) else row for row in rows]


# --- JSON-lines formats ----------------------------------------------------------------------

def json_lines(fmt: str) -> st.SearchStrategy[list[Line]]:
    return st.lists(VALID_LINES[fmt] | corrupt_lines(fmt) | blank_lines, max_size=8)


@pytest.mark.parametrize("fmt", ["pagepilot", "ga360", "ga4"])
@settings(PROPERTIES, max_examples=80)
@given(data=st.data(), crlf=st.booleans(), last_newline=st.booleans(), gz=st.booleans(),
       bom=st.booleans())
@no_hang
def test_valid_rows_round_trip_and_every_corrupt_line_is_one_bad_row(
        tmp_path, fmt, data, crlf, last_newline, gz, bom):
    lines = data.draw(json_lines(fmt))
    if bom and lines and lines[0].raw.strip():
        lines[0] = dataclasses.replace(lines[0], raw=BOM + lines[0].raw)
    path = write(tmp_path, NAMES[fmt], json_file(lines, crlf, last_newline), gz)
    rows, stats = read(path, fmt)
    assert isinstance(rows, list), rows
    assert as_expected(rows) == expected_rows(fmt, lines)
    assert stats.skipped == collections.Counter(kind for line in lines for kind in line.skipped)
    read_ = sum(len(line.views) + len(line.skipped) + line.bad for line in lines)
    assert stats.events + stats.bad_rows + sum(stats.skipped.values()) == read_


@pytest.mark.parametrize("fmt", ["pagepilot", "ga360", "ga4"])
@settings(PROPERTIES, max_examples=50)
@given(data=st.data(), gz=st.booleans())
@no_hang
def test_mutated_rows_end_as_page_views_or_bad_rows(tmp_path, fmt, data, gz):
    mutations = VALID_LINES[fmt].map(lambda line: json.loads(line.raw)).flatmap(mutated)
    lines = data.draw(st.lists(mutations.map(lambda value: to_bytes(dumps(value))), max_size=6))
    path = write(tmp_path, NAMES[fmt], b"\n".join(lines), gz)
    rows, stats = read(path, fmt)
    assert isinstance(rows, list), rows
    assert max((row.line for row in rows if isinstance(row, BadRow)), default=0) <= len(lines)
    if fmt != "ga360":  # one row or one skipped event per line; a GA360 line has many hits
        assert stats.events + stats.bad_rows + sum(stats.skipped.values()) == len(lines)


@pytest.mark.parametrize("fmt", ["auto", *FORMATS])
@settings(PROPERTIES, max_examples=100)
@given(data=st.binary(max_size=300) | st.lists(st.binary(max_size=40)).map(b"\n".join),
       gz=st.booleans(), name=st.sampled_from([*NAMES.values(), "upload"]))
@no_hang
def test_any_bytes_end_as_rows_or_a_clear_file_error(tmp_path, fmt, data, gz, name):
    path = write(tmp_path, name, data, gz)
    result, _ = read(path, fmt)
    if isinstance(result, list):
        bound = data.count(b"\n") + data.count(b"\r") + 1  # CSV also ends lines at \r
        assert all(row.line <= bound for row in result if isinstance(row, BadRow))


@pytest.mark.parametrize("fmt", ["pagepilot", "ga360", "ga4"])
@settings(PROPERTIES, max_examples=40)
@given(data=st.data(), cut=st.floats(0, 1, exclude_max=True))
@no_hang
def test_a_damaged_gzip_file_is_a_clear_file_error(tmp_path, fmt, data, cut):
    lines = data.draw(st.lists(VALID_LINES[fmt], min_size=1, max_size=4))
    packed = gzip.compress(json_file(lines, False, True), mtime=0)
    broken = data.draw(st.sampled_from([packed[:int(len(packed) * cut)],
                                        packed[:10] + bytes(len(packed) - 10)]))
    result, _ = read(write(tmp_path, NAMES[fmt], b"\x1f\x8b" + broken[2:]), fmt)
    assert isinstance(result, ValueError) and "damaged gzip file" in str(result)


@pytest.mark.parametrize("fmt", ["pagepilot", "ga360", "ga4"])
@settings(PROPERTIES, max_examples=30)
@given(data=st.data(), bom=st.booleans(), gz=st.booleans())
@no_hang
def test_auto_detects_a_file_that_starts_with_a_valid_row(tmp_path, fmt, data, bom, gz):
    lines = data.draw(st.lists(VALID_LINES[fmt], min_size=1, max_size=3))
    lines += data.draw(json_lines(fmt))
    path = write(tmp_path, "upload", (BOM if bom else b"") + json_file(lines, False, True), gz)
    assert detect_format(path) == fmt


@settings(PROPERTIES, max_examples=40)
@given(lines=json_lines("pagepilot"))
@no_hang
def test_replay_reads_the_valid_rows_in_time_order_and_counts_the_rest(tmp_path, lines):
    path = write(tmp_path, NAMES["pagepilot"], json_file(lines, False, True))
    stats, err = ReplayStats(), io.StringIO()
    events = read_events(str(path), "pagepilot", stats=stats, err=err)
    valid = [view for line in lines for view in line.views]
    key = lambda view: (view.timestamp, view.hit_number)  # noqa: E731
    assert events == sorted(valid, key=key)
    assert stats.rejected == sum(line.bad for line in lines)
    assert len(err.getvalue().splitlines()) == min(stats.rejected, 20)


# --- CSV -------------------------------------------------------------------------------------

NOT_UTF8 = "\uffff"  # stands for an invalid byte in a written row; never in generated text
CSV_CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters=NOT_UTF8)
CSV_TEXT = texts(stripped=True, alphabet=CSV_CHARACTERS)
CSV_NAME = names(stripped=True, alphabet=CSV_CHARACTERS)
CSV_ID = names(stripped=True, alphabet=CSV_CHARACTERS, long=False)  # room for "-<line>"
CSV_CELL = texts(max_size=6, alphabet=CSV_CHARACTERS, long=False)
csv_views = page_views(text=CSV_TEXT, name=CSV_ID,
                       path=CSV_ID.filter(lambda text: not text.startswith("/")).map(
                           lambda text: "/" + text))
OPTIONAL = ("event_id", "visitor_id", "page_title", "hit_type", "revenue", "device",
            "channel", "country", "hit_number")
DEFAULTS = {"page_title": "", "revenue": 0.0, "device": "", "channel": "", "country": "",
            "hit_number": 0}


@dataclasses.dataclass
class CsvLayout:
    """Where the fields are: the header, our field -> its column, and the mapping to pass."""

    header: list[str]
    at: dict[str, int]
    columns: dict[str, str] | None

    def row(self, values: dict[str, object], extra: str) -> list[str]:
        row = [extra] * len(self.header)
        for field, index in self.at.items():
            row[index] = str(values[field])
        return row


@st.composite
def csv_layouts(draw) -> CsvLayout:
    """The header writers.write_csv writes, or renamed, reordered, partial and extra columns."""
    if draw(st.booleans()):
        return CsvLayout(list(writers.FIELDS), {f: i for i, f in enumerate(writers.FIELDS)},
                         None)
    fields = ["session_id", "timestamp", "page_path",
              *draw(st.lists(st.sampled_from(OPTIONAL), unique=True))]
    taken = set(writers.FIELDS)
    column = CSV_NAME.filter(lambda name: name not in taken)
    header = draw(st.lists(column, min_size=len(fields), max_size=len(fields) + 2,
                           unique=True))
    header = draw(st.permutations(header))
    return CsvLayout(header, {field: i for i, field in enumerate(fields)},
                     {field: header[i] for i, field in enumerate(fields)})


def _csv_line(values: list[str], terminator: str) -> str:
    # Written with \r\n, as Python 3.11 quotes a value with \r only if the terminator has it.
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().removesuffix("\r\n") + terminator


def _loaded(view: PageView, layout: CsvLayout, line: int) -> PageView:
    """The view a row of ``view`` loads as: fields without a column take their defaults."""
    values = {field: value for field, value in view.asdict().items() if field in layout.at}
    if "hit_type" not in values:
        values["hit_type"] = "TRANSACTION" if values.get("revenue") else "PAGE"
    return PageView(**{**DEFAULTS, "event_id": f"{view.session_id}-{line}",
                       "visitor_id": view.session_id, **values})


@st.composite
def csv_rows(draw, layout: CsvLayout) -> tuple[list[str], str, PageView | None]:
    """The values of one row, what kind of row it is, and the view of a valid row."""
    kind = draw(st.sampled_from(["valid", "valid", "count", "utf-8", "timestamp", "blank"]))
    extra = draw(CSV_CELL)
    if kind == "blank":
        return [], kind, None
    if kind == "count":
        width = draw(st.integers(1, len(layout.header) + 2).filter(
            lambda n: n != len(layout.header)))
        return draw(st.lists(CSV_CELL, min_size=width, max_size=width)), kind, None
    view = draw(csv_views)
    values = layout.row(view.asdict(), extra)
    if kind == "utf-8":
        values[layout.at["session_id"]] = NOT_UTF8 + view.session_id
    if kind == "timestamp":
        values[layout.at["timestamp"]] = draw(st.sampled_from(["yesterday", "1e400", "-5",
                                                               "nan", "12:00"]))
    return values, kind, view


@settings(PROPERTIES, max_examples=150)
@given(data=st.data(), crlf=st.booleans(), bom=st.booleans(), gz=st.booleans())
@no_hang
def test_csv_rows_round_trip_and_every_bad_row_has_its_line(tmp_path, data, crlf, bom, gz):
    layout = data.draw(csv_layouts())
    rows = data.draw(st.lists(csv_rows(layout), max_size=8))
    terminator = "\r\n" if crlf else "\n"
    text, expected = _csv_line(layout.header, terminator), []
    for values, kind, view in rows:
        line = len(re.findall(r"\r\n|\r|\n", text)) + 1
        text += _csv_line(values, terminator) if values else terminator
        if kind == "valid":
            expected.append(_loaded(view, layout, line))
        elif kind != "blank":
            expected.append(line)
    raw = (BOM if bom else b"") + text.encode().replace(NOT_UTF8.encode(), b"\xff")
    result, stats = read(write(tmp_path, "clicks.csv", raw, gz), "csv", layout.columns)
    assert isinstance(result, list), result
    assert as_expected(result) == expected
    assert stats.events + stats.bad_rows == sum(kind != "blank" for _, kind, _ in rows)


@settings(PROPERTIES, max_examples=100)
@given(data=st.data(), gz=st.booleans())
@no_hang
def test_any_csv_ends_as_rows_or_a_clear_file_error(tmp_path, data, gz):
    layout = data.draw(csv_layouts())
    cell = st.text(CHARACTERS, max_size=12) | st.sampled_from(
        ["", " ", "x" * 200_000, "https://[oops", "9" * 400, "nan", "-0", "1e308", "²",
         "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "١٥٠١٥٩١٥٦٨"])
    lines = data.draw(st.lists(st.lists(cell, max_size=len(layout.header) + 1).map(
        lambda values: _csv_line(values, "\n").encode()) | st.binary(max_size=30), max_size=6))
    header = _csv_line(data.draw(st.just(layout.header) | st.lists(cell, max_size=4)), "\n")
    raw = header.encode() + b"".join(lines)
    path = write(tmp_path, "clicks.csv", raw, gz)
    read(path, "csv", data.draw(st.none() | st.just(layout.columns)))


TIMES = st.one_of(
    st.integers(-10**20, 10**20).map(str), st.floats().map(repr),
    st.datetimes(timezones=st.none() | st.timezones()).map(datetime.datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1e400",
                     "9" * 400, "١٥٠١٥٩١٥٦٨", "²", "+-5", "1_501_591_568", "2017-08-01"]))
CELLS = {"timestamp": TIMES, "revenue": st.floats().map(repr) | st.integers().map(str),
         "hit_number": st.integers().map(str) | st.sampled_from(["9" * 5000, "1.0"]),
         "page_path": st.sampled_from(["https://[oops", "http://x:99999/y", "//host/p",
                                       "mailto:a@b", "\x00http://x/y"]) | URL_TEXT}


@settings(PROPERTIES, max_examples=300)
@given(values=st.fixed_dictionaries({field: CELLS.get(field, st.text(CHARACTERS, max_size=8))
                                     | st.text(CHARACTERS, max_size=8)
                                     for field in writers.FIELDS}))
@no_hang
def test_any_csv_values_end_as_a_page_view_or_a_reason(values):
    columns = Columns.from_header(list(values), None, "clicks.csv")
    try:
        view = columns.page_view(list(values.values()), line=2)
    except InvalidEvent as exc:
        assert str(exc).strip()
    else:
        assert_sound(view)
