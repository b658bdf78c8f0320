"""Loaders: every format, bad rows with exact line numbers, and whole-file errors."""

from __future__ import annotations

import gzip
import json

import pytest

from producers import writers
from producers.loaders import BadRow, LoadStats, detect_format, iter_rows, parse_column_map
from stream.core.models import PageView

T0 = 1_501_591_568  # 2017-08-01 12:46:08 UTC, in seconds
NA = "not available in demo dataset"


def _lines(tmp_path, name: str, lines: list, gz: bool = False):
    """Write lines (dicts become JSON, strings go as they are) to a file in tmp_path."""
    text = "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n"
                   for line in lines)
    path = tmp_path / name
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as file:
            file.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _read(path, fmt="auto", columns=None):
    stats = LoadStats()
    rows = list(iter_rows(path, fmt, columns, stats=stats))
    good = [row for row in rows if isinstance(row, PageView)]
    bad = {row.line: row.reason for row in rows if isinstance(row, BadRow)}
    assert len(bad) == sum(isinstance(row, BadRow) for row in rows), "one bad row per line here"
    assert (stats.events, stats.bad_rows) == (len(good), len(bad))
    return good, bad, stats


def _view(n: int, **changes) -> dict:
    return {"event_id": f"e{n}", "session_id": "s1", "visitor_id": "v1",
            "timestamp": T0 * 1000 + n, "page_path": f"/p{n}", **changes}


# --- pagepilot -----------------------------------------------------------------------------

PAGEPILOT_LINES = [
    _view(1, page_title="Home", hit_type="PAGE", revenue=0, device="desktop", hit_number=1),
    "{not json",
    "",
    {k: v for k, v in _view(4).items() if k != "page_path"},
    _view(5, timestamp="yesterday"),
    _view(6, timestamp=-5),
    _view(7, timestamp=4_102_444_800_000),
    "[1, 2, 3]",
    _view(9, hit_type="TRANSACTION", revenue=12.5),
    '{"event_id": "e10", "session_id": "s1", "visitor_id": "v1", "timestamp": 1501591568010,'
    ' "page_path": "/p10", "revenue": NaN}',
    _view(11, hit_type="SCREENVIEW"),
    _view(12, colour="red"),
]
PAGEPILOT_BAD = {2: "not JSON", 4: "missing field: page_path", 5: "field timestamp must be int",
                 6: "before 1970", 7: "more than a day in the future",
                 8: "not a JSON object", 10: "NaN is not a number",
                 11: "unknown hit_type 'SCREENVIEW'", 12: "unknown field: colour"}


@pytest.mark.parametrize("gz", [False, True])
def test_pagepilot_bad_rows_are_reported_and_good_rows_read(tmp_path, gz):
    path = _lines(tmp_path, "views.ndjson" + (".gz" if gz else ""), PAGEPILOT_LINES, gz)
    good, bad, _ = _read(path)
    assert [view.event_id for view in good] == ["e1", "e9"]
    assert good[0].page_title == "Home" and good[0].revenue == 0.0
    assert good[1].hit_type == "TRANSACTION" and good[1].revenue == 12.5
    assert sorted(bad) == sorted(PAGEPILOT_BAD)
    for line, expected in PAGEPILOT_BAD.items():
        assert expected in bad[line], (line, bad[line])


def test_invalid_utf8_is_a_bad_row(tmp_path):
    path = tmp_path / "views.ndjson"
    path.write_bytes(json.dumps(_view(1)).encode() + b'\n{"event_id": "\xff"}\n'
                     + json.dumps(_view(3)).encode() + b"\r\n")
    good, bad, _ = _read(path, "pagepilot")
    assert [view.event_id for view in good] == ["e1", "e3"]
    assert list(bad) == [2] and "UTF-8" in bad[2]


# --- GA360 -----------------------------------------------------------------------------------

def _session(visitor="123", start=T0, hits=None, **fields) -> dict:
    return {"visitorId": None, "visitNumber": "1", "visitId": str(start),
            "visitStartTime": str(start), "date": "20170801", "fullVisitorId": visitor,
            "channelGrouping": "Organic Search",
            "totals": {"visits": "1", "hits": "3", "transactionRevenue": None},
            "device": {"deviceCategory": "desktop", "isMobile": "false", "browserVersion": NA},
            "geoNetwork": {"country": "Canada", "city": NA},
            "hits": hits if hits is not None else [_hit(1, 0)], **fields}


def _hit(number, time_ms, kind="PAGE", path="/home", title="Home", **fields) -> dict:
    return {"hitNumber": str(number), "time": str(time_ms), "type": kind,
            "isInteractive": True, "isEntrance": "true" if number == 1 else None,
            "page": {"pagePath": path, "pageTitle": title, "hostname": NA}, **fields}


GA360_LINES = [
    _session(hits=[_hit(1, 0), _hit(2, 1500, kind="EVENT"),
                   _hit(3, 20_000, path="/basket.html", title="Shopping Cart"),
                   _hit(4, 45_000, path="/ordercompleted.html", title="Checkout Confirmation",
                        transaction={"transactionRevenue": "160730000",
                                     "transactionId": NA})]),
    "not json at all",
    {k: v for k, v in _session().items() if k != "fullVisitorId"},
    _session(visitor="456", hits=[_hit("x", 0), _hit(2, 3000, path="/yourinfo.html")]),
    _session(visitor="789", start=T0 * 1000),
    {**_session(visitor=1011, hits=[{"hitNumber": 1, "time": 0, "type": "TRANSACTION",
                                     "page": {"pagePath": "/ordercompleted.html"},
                                     "transaction": {"transactionRevenue": 5_000_000}}]),
     "visitId": 99, "visitStartTime": T0, "device": None, "geoNetwork": {"country": NA}},
    _session(visitor="1213", hits="no hits"),
    _session(visitor="1415", hits=[_hit(1, 0, path=None)]),
]


def test_ga360_sessions_become_page_views(tmp_path):
    good, _bad, stats = _read(_lines(tmp_path, "ga_sessions_20170801.json", GA360_LINES))
    first = [view for view in good if view.session_id == f"123-{T0}"]
    assert [view.event_id for view in first] == [f"123-{T0}-1", f"123-{T0}-3", f"123-{T0}-4"]
    assert [view.timestamp for view in first] == [T0 * 1000, T0 * 1000 + 20_000,
                                                  T0 * 1000 + 45_000]
    assert [view.hit_type for view in first] == ["PAGE", "PAGE", "TRANSACTION"]
    assert first[2].revenue == pytest.approx(160.73)
    assert (first[0].device, first[0].channel, first[0].country) == (
        "desktop", "Organic Search", "Canada")
    assert first[0].visitor_id == "123" and first[0].hit_number == 1
    assert stats.skipped == {"EVENT": 1}


def test_ga360_bad_rows_and_bigquery_types(tmp_path):
    good, bad, _ = _read(_lines(tmp_path, "sessions.json", GA360_LINES), "ga360")
    assert "not JSON" in bad[2]
    assert "missing fullVisitorId" in bad[3]
    assert "hits[0]: hitNumber must be an integer" in bad[4]
    assert "more than a day in the future" in bad[5]  # visitStartTime in ms, not seconds
    assert "hits must be a list" in bad[7]
    assert "hits[0]: missing field: page_path" in bad[8]
    assert sorted(bad) == [2, 3, 4, 5, 7, 8]
    # Line 4's good hit survives its bad neighbour; line 6 has plain ints and nulls.
    assert [view.event_id for view in good if view.visitor_id == "456"] == [f"456-{T0}-2"]
    (plain,) = [view for view in good if view.visitor_id == "1011"]
    assert plain.event_id == "1011-99-1" and plain.revenue == 5.0
    assert (plain.device, plain.country, plain.page_title) == ("", "", "")


# --- GA4 -------------------------------------------------------------------------------------

def _event(name="page_view", micros=T0 * 1_000_000 + 123_456, session=1501591500,
           location="https://shop.googlemerchandisestore.com/basket.html?utm=x#top",
           **fields) -> dict:
    params = [{"key": "page_title", "value": {"string_value": "Shopping Cart"}},
              {"key": "ga_session_id", "value": {"int_value": session}},
              {"key": "engaged_session_event", "value": {"int_value": "1"}}]
    if location:
        params.append({"key": "page_location", "value": {"string_value": location}})
    return {"event_date": "20170801", "event_timestamp": str(micros), "event_name": name,
            "event_params": params, "user_pseudo_id": "u42.1501591500",
            "device": {"category": "mobile"}, "geo": {"country": "Japan"},
            "traffic_source": {"medium": "organic", "source": "google"},
            "event_value_in_usd": None, **fields}


GA4_LINES = [
    _event(),
    _event(name="scroll"),
    _event(),
    _event(name="purchase", micros=T0 * 1_000_000 + 9_000_000,
           location="https://shop.googlemerchandisestore.com/ordercompleted.html",
           ecommerce={"purchase_revenue": 123.5, "transaction_id": "T1"}),
    {**_event(), "event_params": [{"key": "page_location",
                                   "value": {"string_value": "https://x.com/home"}}]},
    _event(micros="soon"),
    {**_event(name="purchase"), "ecommerce": None,
     "event_params": _event()["event_params"] + [{"key": "value",
                                                  "value": {"double_value": 10.0}}]},
    "[]",
    _event(location=None),
    {**_event(), "traffic_source": {"medium": "(none)", "source": "(direct)"}},
]


def test_ga4_events_become_page_views(tmp_path):
    good, _bad, stats = _read(_lines(tmp_path, "events_20170801.json.gz", GA4_LINES, gz=True))
    session = "u42.1501591500-1501591500"
    micros = T0 * 1_000_000 + 123_456
    assert [view.event_id for view in good] == [
        f"{session}-{micros}", f"{session}-{micros}-1", f"{session}-{T0 * 1_000_000 + 9_000_000}",
        f"{session}-{micros}-2", f"{session}-{micros}-3"]
    assert good[0].timestamp == T0 * 1000 + 123
    assert (good[0].page_path, good[0].page_title) == ("/basket.html?utm=x", "Shopping Cart")
    assert (good[0].device, good[0].country, good[0].channel) == ("mobile", "Japan",
                                                                  "Organic Search")
    assert (good[2].hit_type, good[2].revenue, good[2].page_path) == (
        "TRANSACTION", 123.5, "/ordercompleted.html")
    assert (good[3].hit_type, good[3].revenue) == ("TRANSACTION", 10.0)
    assert good[4].channel == "Direct"
    assert stats.skipped == {"scroll": 1}


def test_ga4_bad_rows(tmp_path):
    _, bad, _ = _read(_lines(tmp_path, "events.ndjson", GA4_LINES), "ga4")
    assert sorted(bad) == [5, 6, 8, 9]
    assert "missing ga_session_id" in bad[5]
    assert "event_timestamp must be an integer" in bad[6]
    assert "not a JSON object" in bad[8]
    assert "missing field: page_path" in bad[9]


# --- CSV -------------------------------------------------------------------------------------

CSV_TEXT = (
    "sid,ts,page,rev,title\n"                                     # 1
    f"a,{T0},/home,,Home\n"                                       # 2 epoch seconds
    f"a,{T0 * 1000 + 5000},https://shop.example.com/basket.html?x=1,,Cart\n"  # 3 epoch ms
    "a,2017-08-01T12:46:30Z,/ordercompleted.html,49.99,Thanks\n"  # 4 ISO, revenue
    "b,yesterday,/home,,Home\n"                                   # 5 bad timestamp
    f",{T0},/home,,Home\n"                                        # 6 no session id
    f"b,{T0},/home\n"                                             # 7 too few fields
    f"b,{T0},/home,lots,Home\n"                                   # 8 bad revenue
    f'b,{T0},/office,,"Office\n| Google"\n'                       # 9-10 quoted newline
    "b,-5,/home,,Home\n"                                          # 11 negative time
    "\n"                                                          # 12 blank
    "c,2017-08-01 12:47:00,/home,,Home\n"                         # 13 naive ISO = UTC
    "c,99999999999999,/home,,Home\n"                              # 14 far future ms
)
COLUMNS = "session_id=sid,timestamp=ts,page_path=page,revenue=rev,page_title=title"


@pytest.mark.parametrize("gz", [False, True])
def test_csv_rows_with_a_column_mapping(tmp_path, gz):
    path = tmp_path / ("clicks.csv" + (".gz" if gz else ""))
    data = ("\ufeff" + CSV_TEXT).encode()  # with the BOM spreadsheets write
    path.write_bytes(gzip.compress(data) if gz else data)
    good, bad, _ = _read(path, columns=parse_column_map(COLUMNS))
    assert [view.event_id for view in good] == ["a-2", "a-3", "a-4", "b-9", "c-13"]
    assert [view.timestamp for view in good] == [
        T0 * 1000, T0 * 1000 + 5000, T0 * 1000 + 22_000, T0 * 1000, T0 * 1000 + 52_000]
    assert good[1].page_path == "/basket.html?x=1"
    assert (good[2].hit_type, good[2].revenue) == ("TRANSACTION", 49.99)
    assert good[0].visitor_id == "a" and good[0].hit_type == "PAGE"
    assert good[3].page_title == "Office\n| Google"
    assert sorted(bad) == [5, 6, 7, 8, 11, 14]
    assert "not epoch seconds, epoch milliseconds or ISO 8601" in bad[5]
    assert "missing field: session_id" in bad[6]
    assert "expected 5 fields as in the header, got 3" in bad[7]
    assert "revenue 'lots' is not a number" in bad[8]
    assert "before 1970" in bad[11]
    assert "in the future" in bad[14]


def test_csv_columns_named_like_our_fields_need_no_mapping(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("session_id,timestamp,page_path,event_id,visitor_id,hit_number\n"
                    f"s,{T0},/home,x1,v,1\n")
    (view,) = list(iter_rows(path))
    assert (view.event_id, view.visitor_id, view.hit_number) == ("x1", "v", 1)


@pytest.mark.parametrize("header, page", [
    ("session_id,timestamp,page,revenue", "page"),
    ("session_id,timestamp,URL", "URL"),
    ("session_id,timestamp,Page_URL", "Page_URL"),
    ("session_id,timestamp,item_id", "item_id"),
    ("session_id,timestamp,url,path,item,Page_Path", "Page_Path"),  # page_path first
    ("session_id,timestamp,item,path,url", "url"),                  # then in listed order
])
def test_csv_page_column_by_a_common_name_needs_no_mapping(tmp_path, header, page):
    names = header.split(",")
    path = tmp_path / "export.csv"
    values = ["0" if name == "revenue" else f"/{name}" for name in names]
    values[:2] = ["s", str(T0)]
    path.write_text(f"{header}\n{','.join(values)}\n")
    (view,) = list(iter_rows(path))
    assert view.page_path == f"/{page}"


def test_csv_explicit_page_mapping_wins_over_common_names(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(f"session_id,timestamp,page,url\ns,{T0},/a,/b\n")
    (view,) = list(iter_rows(path, columns={"page_path": "url"}))
    assert view.page_path == "/b"
    (view,) = list(iter_rows(path, columns={"page_title": "page"}))  # a column serves once
    assert (view.page_path, view.page_title) == ("/b", "/a")


def test_csv_without_a_page_column_lists_the_accepted_names(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(f"session_id,timestamp,where\ns,{T0},/a\n")
    with pytest.raises(ValueError, match="no column for page_path; map one with page_path="
                                         "<column> or name it page_path, page, url, page_url, "
                                         "path, item, item_id"):
        iter_rows(path)


def test_csv_mapping_errors_are_whole_file_errors(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text(CSV_TEXT)
    with pytest.raises(ValueError, match=r"column 'when' \(for timestamp\) is not in the header"):
        iter_rows(path, columns={"session_id": "sid", "timestamp": "when", "page_path": "page"})
    with pytest.raises(ValueError, match="no column for timestamp; map one with timestamp="):
        iter_rows(path, columns={"session_id": "sid", "page_path": "page"})
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty file"):
        iter_rows(empty)


def test_parse_column_map():
    assert parse_column_map("session_id=sid, timestamp = ts,") == {
        "session_id": "sid", "timestamp": "ts"}
    assert parse_column_map("") == {}
    with pytest.raises(ValueError, match="'session_id' is not field=column"):
        parse_column_map("session_id")
    with pytest.raises(ValueError, match="unknown field 'sesion_id'"):
        parse_column_map("sesion_id=sid")


# --- formats and whole-file errors -----------------------------------------------------------

@pytest.mark.parametrize("name, lines, fmt", [
    ("a.ndjson", ["oops", PAGEPILOT_LINES[0]], "pagepilot"),
    ("b.json.gz", GA360_LINES[2:], "ga360"),
    ("c.json", GA4_LINES, "ga4"),
    ("d.txt", ["sid,ts,page", "a,1,/"], "csv"),
    ("e.csv", ["anything"], "csv"),
])
def test_detect_format(tmp_path, name, lines, fmt):
    path = _lines(tmp_path, name, lines, gz=name.endswith(".gz"))
    assert detect_format(path) == fmt


def test_whole_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        iter_rows(tmp_path / "absent.ndjson")
    path = _lines(tmp_path, "views.ndjson", PAGEPILOT_LINES)
    with pytest.raises(ValueError, match="unknown format 'parquet'"):
        iter_rows(path, "parquet")
    with pytest.raises(ValueError, match="column mapping applies to csv"):
        iter_rows(path, "pagepilot", {"session_id": "sid"})
    with pytest.raises(ValueError, match="cannot tell the format"):
        iter_rows(_lines(tmp_path, "odd.json", ['{"a": 1}', "nonsense"]))


# --- regressions found by the property tests (test_loader_properties.py) ---------------------

def test_json_nested_too_deep_is_a_bad_row_and_does_not_stop_detection(tmp_path):
    path = _lines(tmp_path, "deep.ndjson", ["[" * 100_000, _view(2)])
    good, bad, _ = _read(path)
    assert [view.event_id for view in good] == ["e2"]
    assert bad == {1: "not JSON: nesting too deep"}


def test_numbers_beyond_bigquery_int64_and_float_are_bad_rows(tmp_path):
    huge = int("1" + "0" * 400)
    ga360 = _session(hits=[_hit(1, 0, transaction={"transactionRevenue": huge})])
    ga4 = {**_event(name="purchase"), "ecommerce": {"purchase_revenue": huge}}
    _, bad360, _ = _read(_lines(tmp_path, "s.json", [ga360]), "ga360")
    _, bad4, _ = _read(_lines(tmp_path, "e.json", [ga4]), "ga4")
    assert "hits[0]: transactionRevenue is out of the INT64 range" in bad360[1]
    assert "purchase_revenue must be a number" in bad4[1]


def test_ga4_odd_params_and_urls(tmp_path):
    odd_key = {**_event(), "event_params": _event()["event_params"] + [
        {"key": ["page_title"], "value": {"string_value": "x"}}]}
    bad_url = _event(location="https://[oops/basket.html")
    good, bad, _ = _read(_lines(tmp_path, "e.json", [odd_key, bad_url]), "ga4")
    assert good[0].page_title == "Shopping Cart"
    assert bad == {2: "page URL 'https://[oops/basket.html' is not a URL: Invalid IPv6 URL"}


def test_csv_rows_that_are_not_utf8_are_bad_rows(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_bytes(b"session_id,timestamp,page_path\n"
                     b"s,%d,/caf\xe9\n"            # latin-1
                     b"s,%d,https://[oops\n"
                     b"s,%d,/home\n" % (T0, T0, T0))
    good, bad, _ = _read(path)
    assert [view.event_id for view in good] == ["s-4"]
    assert bad == {2: "not UTF-8 text",
                   3: "page URL 'https://[oops' is not a URL: Invalid IPv6 URL"}


@pytest.mark.parametrize("header, reason", [
    ("session_id,timestamp,page_path".encode("utf-16"), "the header is not UTF-8 text"),
    (b"session_id,timestamp,page_path," + b"x" * 200_000, "line 1 is not a CSV header"),
], ids=["utf-16", "huge field"])
def test_csv_headers_that_cannot_be_read_are_whole_file_errors(tmp_path, header, reason):
    path = tmp_path / "clicks.csv"
    path.write_bytes(header + b"\n")
    with pytest.raises(ValueError, match=f"{path}: {reason}"):
        iter_rows(path)


@pytest.mark.parametrize("damage", [lambda data: data[:-20], lambda data: data[:12],
                                    lambda data: data[:10] + bytes(len(data) - 10)],
                         ids=["cut short", "cut in the header", "zeroed data"])
def test_a_damaged_gzip_file_is_a_whole_file_error(tmp_path, damage):
    path = tmp_path / "views.ndjson.gz"
    good = _lines(tmp_path, "good.ndjson.gz", [_view(n) for n in range(50)], gz=True)
    path.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ValueError, match=f"{path}: damaged gzip file"):
        list(iter_rows(path, "pagepilot"))


def test_a_json_lines_file_with_a_byte_order_mark_is_detected(tmp_path):
    path = tmp_path / "views.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_view(1)).encode() + b"\n")
    assert detect_format(path) == "pagepilot"
    assert [view.event_id for view in iter_rows(path)] == ["e1"]


def test_write_csv_round_trips_a_carriage_return(tmp_path):
    view = PageView(**_view(1, page_title="Cart\rCheckout"))
    path = tmp_path / "views.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writers.write_csv(file, [view])
    assert list(iter_rows(path)) == [view]
