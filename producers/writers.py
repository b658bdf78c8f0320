"""Page views written in the formats the loaders read, for samples and round-trip tests.

>>> from producers.generator import sessions
>>> row = ga360_row(next(sessions(1, seed=5)))
>>> row["hits"][0]["hitNumber"], row["hits"][0]["time"]
('1', '0')
"""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterable
from typing import IO

from stream.core.models import PageView

FIELDS = tuple(PageView._options.fields)
NOT_AVAILABLE = "not available in demo dataset"
HOSTNAME = "shop.googlemerchandisestore.com"
# channelGrouping -> trafficSource (source, medium), as GA360 pairs them.
TRAFFIC_SOURCES = {"Direct": ("(direct)", "(none)"), "Organic Search": ("google", "organic"),
                   "Social": ("youtube.com", "referral"),
                   "Referral": ("mall.googleplex.com", "referral"),
                   "Paid Search": ("google", "cpc"), "Display": ("dfa", "cpm"),
                   "Affiliates": ("Partners", "affiliate")}


def write_pagepilot(file: IO[str], views: Iterable[PageView]) -> int:
    """One JSON object per line; return how many were written."""
    count = 0
    for view in views:
        file.write(json.dumps(view.asdict()) + "\n")
        count += 1
    return count


def write_csv(file: IO[str], views: Iterable[PageView]) -> int:
    """A header of PageView's field names, then one row per view; return the row count."""
    # RFC 4180 line ends: Python's csv quotes a field holding a bare \r only when the line
    # terminator has one, and an unquoted \r would end the row when read back.
    writer = csv.writer(file, lineterminator="\r\n")
    writer.writerow(FIELDS)
    count = 0
    for view in views:
        writer.writerow([getattr(view, field) for field in FIELDS])
        count += 1
    return count


def write_ga360(file: IO[str], sessions: Iterable[list[PageView]]) -> int:
    """One ``ga_sessions`` row per session; return the number of hits written."""
    count = 0
    for session in sessions:
        file.write(json.dumps(ga360_row(session)) + "\n")
        count += len(session)
    return count


def ga360_row(session: list[PageView]) -> dict:
    """A session's hits as a ``ga_sessions`` row, written the way BigQuery exports it.

    INT64 values are strings, booleans sometimes strings, absent values null, and
    demo-masked fields say "not available in demo dataset". The session id must be
    ``<fullVisitorId>-<visitId>`` and the first hit must be at the visit's start.
    """
    first, start_s = session[0], session[0].timestamp // 1000
    revenue = sum(view.revenue for view in session)
    source, medium = TRAFFIC_SOURCES.get(first.channel, ("(not set)", "(not set)"))
    return {
        "visitorId": None, "visitNumber": "1", "visitId": first.session_id.rsplit("-", 1)[1],
        "visitStartTime": str(start_s), "date": _date(start_s),
        "fullVisitorId": first.visitor_id, "channelGrouping": first.channel,
        "totals": {"visits": "1", "hits": str(len(session)), "pageviews": str(len(session)),
                   "transactions": "1" if revenue else None,
                   "transactionRevenue": _micros(revenue) if revenue else None},
        "trafficSource": {"source": source, "medium": medium, "keyword": NOT_AVAILABLE},
        "device": {"deviceCategory": first.device, "browserVersion": NOT_AVAILABLE,
                   "isMobile": "true" if first.device != "desktop" else "false"},
        "geoNetwork": {"country": first.country, "city": NOT_AVAILABLE},
        "hits": [_ga360_hit(view, start_s) for view in session],
    }


def _ga360_hit(view: PageView, start_s: int) -> dict:
    hit = {"hitNumber": str(view.hit_number), "time": str(view.timestamp - start_s * 1000),
           "type": view.hit_type, "isInteractive": True,
           "isEntrance": "true" if view.hit_number == 1 else None,
           "page": {"pagePath": view.page_path, "pageTitle": view.page_title,
                    "hostname": HOSTNAME}}
    if view.revenue:
        hit["transaction"] = {"transactionRevenue": _micros(view.revenue),
                              "currencyCode": "USD"}
    return hit


def _micros(dollars: float) -> str:
    return str(round(dollars * 1_000_000))


def _date(epoch_s: int) -> str:
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC).strftime("%Y%m%d")
