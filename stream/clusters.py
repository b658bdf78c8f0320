"""Page clusters: ordered rules map a page's URL path and title to a few tens of clusters.

The rules live in a TOML file (``stream/clusters.toml`` holds the GStore defaults)::

    [[rule]]
    cluster = "cart"
    path = '^/basket\\.html'      # regex on the path, query string included
    title = '^shopping cart'      # regex on the page title

Matching is case-insensitive, the first rule with a matching pattern wins and a page that
no rule matches belongs to ``"other"``.

>>> clusterer = PageClusterer.default()
>>> clusterer.cluster_of("/google+redesign/apparel/mens/mens+t+shirts")
'apparel_men'
>>> clusterer.cluster_of("/basket.html?utm_source=mail")
'cart'
>>> clusterer.cluster_of("/some/unknown/page")
'other'
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

DEFAULT_RULES = Path(__file__).with_name("clusters.toml")
OTHER = "other"
MEMO_SIZE = 16384  # distinct (path, title) pairs remembered; a store has a few thousand
_FIELDS = ("cluster", "path", "title")


@dataclasses.dataclass(frozen=True)
class ClusterRule:
    """One rule: pages whose path or title matches belong to ``cluster``.

    Examples
    --------
    >>> rule = ClusterRule.parse({"cluster": "bags", "path": "/bags(/|$)"})
    >>> rule.matches("/google+redesign/bags", ""), rule.matches("/home", "Bags")
    (True, False)
    """

    cluster: str
    path: re.Pattern | None = None
    title: re.Pattern | None = None

    @classmethod
    def parse(cls, entry: object) -> ClusterRule:
        """Build a rule from one TOML table; raise ValueError saying what is wrong."""
        if not isinstance(entry, dict):
            raise ValueError(f"expected a table, got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; a rule has {', '.join(_FIELDS)}")
        cluster = entry.get("cluster")
        if not isinstance(cluster, str) or not cluster.strip():
            raise ValueError("missing field 'cluster' (a non-empty string)")
        if entry.get("path") is None and entry.get("title") is None:
            raise ValueError(f"rule for {cluster!r} needs a 'path' or a 'title' pattern")
        return cls(cluster, _compile(entry, "path"), _compile(entry, "title"))

    def matches(self, page_path: str, page_title: str) -> bool:
        """True when the path or the title matches this rule's pattern."""
        return bool((self.path is not None and self.path.search(page_path))
                    or (self.title is not None and self.title.search(page_title)))


class PageClusterer:
    """Maps pages to clusters with ordered rules; picklable and cheap per call.

    Parameters
    ----------
    rules
        The rules in priority order. Several rules may name the same cluster.

    Examples
    --------
    >>> clusterer = PageClusterer([ClusterRule.parse({"cluster": "news", "title": "^news"})])
    >>> clusterer.cluster_of("/n/1", "News of the day"), clusterer.clusters
    ('news', ('news', 'other'))
    """

    def __init__(self, rules: Iterable[ClusterRule]):
        self.rules = tuple(rules)
        names = dict.fromkeys(rule.cluster for rule in self.rules)
        names.pop(OTHER, None)
        self.clusters = (*names, OTHER)
        # Pages repeat all the time, so remembering answers skips most regex work.
        self._memo: dict[tuple[str, str], str] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> PageClusterer:
        """Read rules from a TOML file; a bad file raises ValueError naming it and the rule."""
        try:
            with open(path, "rb") as file:
                document = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        entries = document.get("rule")
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{path}: no [[rule]] tables found")
        return cls(_parse_rule(path, index, entry) for index, entry in enumerate(entries, 1))

    @classmethod
    def default(cls) -> PageClusterer:
        """The bundled Google Merchandise Store rules."""
        return cls.from_file(DEFAULT_RULES)

    def cluster_of(self, page_path: str, page_title: str = "") -> str:
        """The cluster of the first rule that matches the page, else ``"other"``.

        A page given as a cluster's name (a clickstream with a page-category column) is
        that cluster.
        """
        key = (page_path, page_title)
        cluster = self._memo.get(key)
        if cluster is None:
            cluster = page_path if page_path in self.clusters else next(
                (rule.cluster for rule in self.rules if rule.matches(page_path, page_title)),
                OTHER)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = cluster
        return cluster

    def __repr__(self) -> str:
        return f"PageClusterer({len(self.rules)} rules, {len(self.clusters)} clusters)"


def _compile(entry: dict, field: str) -> re.Pattern | None:
    pattern = entry.get(field)
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ValueError(f"field {field!r} must be a string, got {type(pattern).__name__}")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad {field} regex {pattern!r}: {exc}") from None


def _parse_rule(path: str | Path, index: int, entry: object) -> ClusterRule:
    try:
        return ClusterRule.parse(entry)
    except ValueError as exc:
        raise ValueError(f"{path}: [[rule]] #{index} (counting from 1): {exc}") from None
