"""Google Analytics BigQuery exports (GA360 sessions, GA4 events) as PageView records.

Each converter takes one decoded JSON line and yields, for each hit or event in it, a
validated PageView, an ``InvalidEvent`` (the reason it cannot be used) or ``Skipped`` (a
hit that is not a page view: counted, not reported). BigQuery's JSON writes INT64 values
as strings, absent values as null and many GA360 demo fields as "not available in demo
dataset": all are accepted.

>>> session = {"fullVisitorId": "42", "visitId": "1501591568", "visitStartTime": "1501591568",
...            "hits": [{"hitNumber": "1", "time": "0", "type": "PAGE",
...                      "page": {"pagePath": "/home", "pageTitle": "Home"}},
...                     {"hitNumber": "2", "time": "1500", "type": "EVENT"}]}
>>> [(row.event_id, row.timestamp) if isinstance(row, PageView) else row
...  for row in ga360_rows(session)]
[('42-1501591568-1', 1501591568000), Skipped(kind='EVENT')]
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import NamedTuple
from urllib.parse import urlsplit

from stream.core.models import PageView
from stream.core.validation import InvalidEvent, validate_pageview

NOT_AVAILABLE = "not available in demo dataset"
GA360_PAGE_HITS = ("PAGE", "TRANSACTION")
GA4_HIT_TYPES = {"page_view": "PAGE", "purchase": "TRANSACTION"}
# GA4 traffic_source.medium -> the channel names GA360's channelGrouping uses.
GA4_CHANNELS = {"(none)": "Direct", "organic": "Organic Search", "referral": "Referral",
                "cpc": "Paid Search", "ppc": "Paid Search", "paidsearch": "Paid Search",
                "display": "Display", "cpm": "Display", "banner": "Display",
                "affiliate": "Affiliates", "social": "Social", "email": "Email"}
REMEMBERED_TIMESTAMPS = 65536  # GA4 (session, timestamp) pairs kept to number ties
INT64 = range(-2**63, 2**63)


class Skipped(NamedTuple):
    """A hit or event that is not a page view, e.g. ``EVENT`` or ``scroll``."""

    kind: str


Row = PageView | InvalidEvent | Skipped


def ga360_rows(session: object) -> Iterator[Row]:
    """The page and transaction hits of one ``ga_sessions_YYYYMMDD`` row."""
    try:
        visitor = _text(_required(session, "fullVisitorId"))
        session_id = f"{visitor}-{_text(_required(session, 'visitId'))}"
        start_ms = 1000 * _int(_required(session, "visitStartTime"), "visitStartTime")
        hits = _required(session, "hits")
        if not isinstance(hits, list):
            raise InvalidEvent(f"hits must be a list, got {type(hits).__name__}")
        context = {"visitor_id": visitor, "session_id": session_id,
                   "device": _text(_get(session, "device", "deviceCategory")),
                   "channel": _text(_get(session, "channelGrouping")),
                   "country": _text(_get(session, "geoNetwork", "country"))}
    except InvalidEvent as exc:
        yield exc
        return
    for index, hit in enumerate(hits):
        try:
            yield _ga360_hit(hit, start_ms, context)
        except InvalidEvent as exc:
            yield InvalidEvent(f"hits[{index}]: {exc}")


def _ga360_hit(hit: object, start_ms: int, context: dict) -> PageView | Skipped:
    if not isinstance(hit, dict):
        raise InvalidEvent(f"a hit must be an object, got {type(hit).__name__}")
    # A hit without a type is taken for a page view: slim exports often leave it out.
    kind = _text(hit.get("type")) or "PAGE"
    if kind not in GA360_PAGE_HITS:
        return Skipped(kind)
    number = _int(_required(hit, "hitNumber"), "hitNumber")
    micros = _get(hit, "transaction", "transactionRevenue")
    revenue = _int(micros, "transactionRevenue") / 1e6 if micros is not None else 0.0
    # GA360 often records the purchase on the confirmation PAGE hit.
    hit_type = "TRANSACTION" if kind == "TRANSACTION" or revenue else "PAGE"
    return validate_pageview({
        **context, "event_id": f"{context['session_id']}-{number}", "hit_number": number,
        "timestamp": start_ms + _int(_required(hit, "time"), "time"),
        "page_path": _text(_get(hit, "page", "pagePath")),
        "page_title": _text(_get(hit, "page", "pageTitle")),
        "hit_type": hit_type, "revenue": revenue})


class GA4Rows:
    """Converts ``events_YYYYMMDD`` rows; keeps the recent timestamps to number ties.

    Event ids are ``<user_pseudo_id>-<ga_session_id>-<event_timestamp>``, with ``-1``,
    ``-2``... added when kept events of a session share a timestamp. GA4 has no hit
    number, so ``hit_number`` is 0.
    """

    def __init__(self):
        self._ties: collections.OrderedDict[str, int] = collections.OrderedDict()

    def __call__(self, event: object) -> Iterator[Row]:
        try:
            yield self._event(event)
        except InvalidEvent as exc:
            yield exc

    def _event(self, event: object) -> PageView | Skipped:
        name = _text(_required(event, "event_name"))
        if name not in GA4_HIT_TYPES:
            return Skipped(name)
        params = _params(event.get("event_params"))
        visitor = _text(_required(event, "user_pseudo_id"))
        session_id = f"{visitor}-{_text(_required(params, 'ga_session_id'))}"
        micros = _int(_required(event, "event_timestamp"), "event_timestamp")
        hit_type = GA4_HIT_TYPES[name]
        location = _text(params.get("page_location"))
        key = f"{session_id}-{micros}"
        view = validate_pageview({
            "event_id": key, "session_id": session_id,
            "visitor_id": visitor, "timestamp": micros // 1000,
            "page_path": page_path(location) if location else None,
            "page_title": _text(params.get("page_title")), "hit_type": hit_type,
            "revenue": _ga4_revenue(event, params) if hit_type == "TRANSACTION" else 0.0,
            "device": _text(_get(event, "device", "category")),
            "channel": _ga4_channel(_text(_get(event, "traffic_source", "medium"))),
            "country": _text(_get(event, "geo", "country"))})
        # Numbered after validation, so that a bad row does not shift the good rows' ids.
        ties = self._ties_before(key)
        return PageView(**{**view.asdict(), "event_id": f"{key}-{ties}"}) if ties else view

    def _ties_before(self, key: str) -> int:
        ties = self._ties.pop(key, -1) + 1
        self._ties[key] = ties
        if len(self._ties) > REMEMBERED_TIMESTAMPS:
            self._ties.popitem(last=False)
        return ties


def page_path(url: str) -> str:
    """Path and query of a URL; a value that is already a path is kept as it is.

    >>> page_path("https://shop.googlemerchandisestore.com/basket.html?x=1#top")
    '/basket.html?x=1'
    >>> page_path("/home")
    '/home'
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 host
        raise InvalidEvent(f"page URL {url!r:.60} is not a URL: {exc}") from None
    if not parts.scheme and not parts.netloc:
        return url
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _params(params: object) -> dict:
    """GA4 ``event_params`` as a plain dict of key -> first non-null value."""
    if params is None:
        return {}
    if not isinstance(params, list):
        raise InvalidEvent(f"event_params must be a list, got {type(params).__name__}")
    values = {}
    for param in params:
        value = param.get("value") if isinstance(param, dict) else None
        if isinstance(value, dict) and isinstance(param.get("key"), str):
            values[param["key"]] = next(
                (value[kind] for kind in ("string_value", "int_value", "double_value",
                                          "float_value") if value.get(kind) is not None), None)
    return values


def _ga4_revenue(event: dict, params: dict) -> float:
    for value, name in ((_get(event, "ecommerce", "purchase_revenue"), "purchase_revenue"),
                        (event.get("event_value_in_usd"), "event_value_in_usd"),
                        (params.get("value"), "value")):
        if value is not None:
            return _float(value, name)
    return 0.0


def _ga4_channel(medium: str | None) -> str | None:
    return GA4_CHANNELS.get(medium.lower(), "(Other)") if medium else None


def _get(record: object, *keys: str) -> object:
    """A nested value, or None when it is absent, null or not available in the demo."""
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return None if record == NOT_AVAILABLE else record


def _required(record: object, key: str) -> object:
    if not isinstance(record, dict):
        raise InvalidEvent(f"not a JSON object but {type(record).__name__}")
    value = _get(record, key)
    if value is None or value == "":
        raise InvalidEvent(f"missing {key}")
    return value


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InvalidEvent(f"expected a string, got {type(value).__name__} {value!r:.40}")


def _int(value: object, name: str) -> int:
    """An INT64 as BigQuery writes it: a number or a string of digits."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            pass
    if number is None:
        raise InvalidEvent(f"{name} must be an integer, got {value!r:.40}")
    if number not in INT64:
        raise InvalidEvent(f"{name} is out of the INT64 range, got {value!r:.40}")
    return number


def _float(value: object, name: str) -> float:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):  # not a number; an integer too large for a float
            pass
    raise InvalidEvent(f"{name} must be a number, got {value!r:.40}")
