"""Read page views from the files users bring, streaming, with every bad row reported.

Formats: ``pagepilot`` (newline-delimited JSON of PageView records), ``ga360`` (BigQuery
``ga_sessions_YYYYMMDD`` NDJSON), ``ga4`` (BigQuery ``events_YYYYMMDD`` NDJSON), ``csv``
(a clickstream with a column mapping, see ``producers.clickstream``) and ``auto``, which
tells them apart by extension and content. Gzipped files are read transparently.

A row that cannot be used becomes a ``BadRow`` with its 1-based physical line number and
the reason, and reading goes on; only a problem with the whole file raises.

>>> import json, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "views.ndjson"
>>> good = {"event_id": "e1", "session_id": "s1", "visitor_id": "v1",
...         "timestamp": 1501591568000, "page_path": "/home"}
>>> _ = path.write_text(json.dumps(good) + "\\n{oops\\n")
>>> for row in iter_rows(path):
...     print(row.page_path if isinstance(row, PageView) else row)
/home
BadRow(line=2, reason='not JSON: Expecting property name enclosed in double quotes at column 2')
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import dataclasses
import gzip
import io
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from producers.bigquery import GA4Rows, Skipped, ga360_rows
from producers.clickstream import Columns, parse_column_map
from stream.core.models import PageView
from stream.core.validation import InvalidEvent, validate_pageview

__all__ = ["FORMATS", "BadRow", "LoadStats", "detect_format", "iter_rows", "parse_column_map"]

FORMATS = ("pagepilot", "ga360", "ga4", "csv")
SNIFFED_LINES = 50  # lines ``auto`` looks at to recognise a JSON format
_GZIP_MAGIC = b"\x1f\x8b"
# What reading a damaged gzip file raises: a bad header, a cut-off end, corrupt data.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
# Undecodable bytes of a CSV file, as the "surrogateescape" error handler reads them.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row of the input that is not a usable page view: where it is and why."""

    line: int
    reason: str


@dataclasses.dataclass
class LoadStats:
    """Counts of one reading: page views, bad rows and hits skipped as not page views."""

    events: int = 0
    bad_rows: int = 0
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)


def iter_rows(path: str | Path, fmt: str = "auto", columns: dict[str, str] | None = None, *,
              stats: LoadStats | None = None) -> Iterator[PageView | BadRow]:
    """Page views and bad rows of a file, in file order.

    Parameters
    ----------
    path
        The file, plain or gzipped.
    fmt
        One of ``FORMATS`` or ``"auto"``.
    columns
        CSV only: our field name -> the file's column name (see ``parse_column_map``).
    stats
        Updated with the counts as rows are read.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown or undetectable format, a CSV mapping that does not fit the header, or a
        gzipped file that is damaged (raised when reading reaches the damage).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS} or 'auto'")
    if columns and fmt != "csv":
        raise ValueError(f"a column mapping applies to csv files, not to {fmt}")
    if fmt == "csv":
        rows = _csv_rows(path, Columns.from_header(_csv_header(path), columns, path))
    else:
        rows = _json_rows(path, {"pagepilot": _pagepilot_rows, "ga360": ga360_rows,
                                 "ga4": GA4Rows()}[fmt])
    return _counted(rows, stats if stats is not None else LoadStats())


def detect_format(path: str | Path) -> str:
    """The format of a file: ``.csv`` or a first line like a CSV header, else the first
    JSON object that has a format's fields (``hits``, ``event_name``, ``page_path``)."""
    path = Path(path)
    if path.name.lower().removesuffix(".gz").endswith(".csv"):
        return "csv"
    with _open_binary(path) as file:
        lines = (raw.strip() for raw in itertools.islice(file, SNIFFED_LINES))
        first = next((text for text in lines if text), b"").removeprefix(codecs.BOM_UTF8)
        if b"," in first and not first.startswith(b"{"):
            return "csv"
        for text in itertools.chain([first], lines):
            fmt = _json_format(text)
            if fmt:
                return fmt
    raise ValueError(f"{path}: cannot tell the format from the first {SNIFFED_LINES} lines; "
                     f"pass one of {FORMATS}")


def _json_format(text: bytes) -> str | None:
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    if "hits" in record or "visitStartTime" in record:
        return "ga360"
    if "event_name" in record or "event_params" in record:
        return "ga4"
    return "pagepilot" if "page_path" in record else None


def _pagepilot_rows(record: object) -> Iterator[PageView | InvalidEvent]:
    try:
        yield validate_pageview(record)
    except InvalidEvent as exc:
        yield exc


def _json_rows(path: Path, convert: Callable[[object], Iterable]) -> Iterator:
    with _open_binary(path) as file:
        for line, raw in enumerate(file, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw, parse_constant=_no_constant)
            except ValueError as exc:  # also UnicodeDecodeError and InvalidEvent
                yield BadRow(line, _json_error(exc))
                continue
            except RecursionError:
                yield BadRow(line, "not JSON: nesting too deep")
                continue
            for row in convert(record):
                yield BadRow(line, str(row)) if isinstance(row, InvalidEvent) else row


def _csv_header(path: Path) -> list[str]:
    with _open_text(path) as file:
        try:
            header = next(csv.reader(file), None)
        except csv.Error as exc:
            raise ValueError(f"{path}: line 1 is not a CSV header: {exc}") from None
    if not header:
        raise ValueError(f"{path}: empty file, expected a CSV header on line 1")
    if any(map(_NOT_UTF8.search, header)):
        raise ValueError(f"{path}: the header is not UTF-8 text; save the file as UTF-8")
    return header


def _csv_rows(path: Path, columns: Columns) -> Iterator[PageView | BadRow]:
    with _open_text(path) as file:
        reader = csv.reader(file)
        next(reader)
        while True:
            # A quoted value may span lines: a row starts after the previous one ends.
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield BadRow(line, f"not CSV: {exc}")
                continue
            if values and any(map(_NOT_UTF8.search, values)):
                yield BadRow(line, "not UTF-8 text")
            elif values:
                try:
                    yield columns.page_view(values, line)
                except InvalidEvent as exc:
                    yield BadRow(line, str(exc))


def _counted(rows: Iterable, stats: LoadStats) -> Iterator[PageView | BadRow]:
    for row in rows:
        if isinstance(row, Skipped):
            stats.skipped[row.kind] += 1
            continue
        if isinstance(row, BadRow):
            stats.bad_rows += 1
        else:
            stats.events += 1
        yield row


@contextlib.contextmanager
def _open_binary(path: Path) -> Iterator[BinaryIO]:
    with open(path, "rb") as file:
        magic = file.read(2)
    with gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb") as file:
        try:
            yield file
        except _GZIP_ERRORS as exc:
            raise ValueError(f"{path}: damaged gzip file: {exc}") from None


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[io.TextIOWrapper]:
    # utf-8-sig drops the byte-order mark spreadsheet programs put before the header;
    # undecodable bytes come through as surrogates, so that their rows can be reported.
    with _open_binary(path) as file:
        yield io.TextIOWrapper(file, encoding="utf-8-sig", errors="surrogateescape",
                               newline="")


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: {exc.reason} at byte {exc.start}"
    return str(exc)


def _no_constant(name: str) -> None:
    raise InvalidEvent(f"not JSON: {name} is not a number")
