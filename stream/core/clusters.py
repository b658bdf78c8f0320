"""Page clusters: ordered rules map a page's URL path and title to a few tens of clusters.

The rules live in a TOML file (``stream/core/clusters.toml`` holds the GStore defaults)::

    [[rule]]
    cluster = "cart"
    path = '^/basket\\.html'      # regex on the path, query string included
    title = '^shopping cart'      # regex on the page title

Matching is case-insensitive, the first rule with a matching pattern wins and a page that
no rule matches belongs to ``"other"``. A rule may build its cluster's name from the page:
``cluster = "cat_{1}"`` puts in the path's (else the title's) capture group 1 (``{1}`` to
``{9}``, or a named group ``{name}``), lower-cased and reduced to ``[a-z0-9_-]``; a rule with
``per_page = true`` names the cluster after the page's path. Such names are new clusters as
pages bring them, up to ``max_clusters`` names in all; later new ones are ``"other"``.

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
MAX_CLUSTERS = 500  # distinct cluster names, "other" included (PAGEPILOT_MAX_CLUSTERS)
MEMO_SIZE = 16384  # distinct (path, title) pairs remembered; a store has a few thousand
_FIELDS = ("cluster", "path", "title", "per_page")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_NOT_NAME = re.compile(r"[^a-z0-9_-]")


@dataclasses.dataclass(frozen=True)
class ClusterRule:
    """One rule: pages whose path or title matches belong to ``cluster``.

    ``cluster`` may hold placeholders of capture groups; ``per_page`` rules have no
    ``cluster`` and name one after each page (see the module's docstring).

    Examples
    --------
    >>> rule = ClusterRule.parse({"cluster": "bags", "path": "/bags(/|$)"})
    >>> rule.matches("/google+redesign/bags", ""), rule.matches("/home", "Bags")
    (True, False)
    >>> rule = ClusterRule.parse({"cluster": "cat_{1}", "path": "^/c/([^/]+)"})
    >>> rule.cluster_for("/c/On-Air/12", ""), rule.cluster_for("/home", "")
    ('cat_on-air', None)
    >>> ClusterRule.parse({"per_page": True, "path": "^/p/"}).cluster_for("/P/12/?a=1", "")
    '/p/12'
    """

    cluster: str
    path: re.Pattern | None = None
    title: re.Pattern | None = None
    per_page: bool = False

    @classmethod
    def parse(cls, entry: object) -> ClusterRule:
        """Build a rule from one TOML table; raise ValueError saying what is wrong."""
        if not isinstance(entry, dict):
            raise ValueError(f"expected a table, got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; a rule has {', '.join(_FIELDS)}")
        per_page = entry.get("per_page", False)
        if not isinstance(per_page, bool):
            raise ValueError(f"field 'per_page' must be true or false, got {per_page!r}")
        if per_page:
            return cls._per_page(entry)
        cluster = entry.get("cluster")
        if not isinstance(cluster, str) or not cluster.strip():
            raise ValueError("missing field 'cluster' (a non-empty string)")
        if entry.get("path") is None and entry.get("title") is None:
            raise ValueError(f"rule for {cluster!r} needs a 'path' or a 'title' pattern")
        rule = cls(cluster, _compile(entry, "path"), _compile(entry, "title"))
        rule._check_placeholders()
        return rule

    @classmethod
    def _per_page(cls, entry: dict) -> ClusterRule:
        if "cluster" in entry:
            raise ValueError("a per_page rule names each cluster after its page; drop 'cluster'")
        # Without a pattern it takes every page that reaches it.
        path = _compile(entry, "path")
        title = _compile(entry, "title")
        return cls("", path if path or title else re.compile(""), title, per_page=True)

    @property
    def dynamic(self) -> bool:
        """True when the cluster's name comes from the page (placeholders or per_page)."""
        return self.per_page or bool(_PLACEHOLDER.search(self.cluster))

    def matches(self, page_path: str, page_title: str) -> bool:
        """True when the path or the title matches this rule's pattern."""
        return self._match(page_path, page_title) is not None

    def cluster_for(self, page_path: str, page_title: str) -> str | None:
        """This rule's cluster for the page; None when it does not match or a placeholder's
        group captured nothing."""
        found = self._match(page_path, page_title)
        if found is None:
            return None
        if self.per_page:
            return page_key(page_path)
        if not self.dynamic:
            return self.cluster
        parts = {name: _name_part(found.group(_group_key(name)))
                 for name in _PLACEHOLDER.findall(self.cluster)}
        if not all(parts.values()):
            return None
        return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], self.cluster)

    def _match(self, page_path: str, page_title: str) -> re.Match | None:
        return ((self.path.search(page_path) if self.path is not None else None)
                or (self.title.search(page_title) if self.title is not None else None))

    def _check_placeholders(self) -> None:
        # Both patterns must have every group: either of them may be the one that matches.
        for name in _PLACEHOLDER.findall(self.cluster):
            for pattern in filter(None, (self.path, self.title)):
                key = _group_key(name)
                has = key <= pattern.groups if isinstance(key, int) else key in pattern.groupindex
                if not has or not (isinstance(key, str) or 1 <= key <= 9):
                    raise ValueError(f"cluster {self.cluster!r} uses {{{name}}} but the pattern "
                                     f"{pattern.pattern!r} has no such group ({{1}} to {{9}} "
                                     "or a named group)")


def page_key(page_path: str) -> str:
    """A page's path as a cluster name: no query string or fragment, lower case, no
    trailing slash except for ``"/"``.

    >>> page_key("/P/12/?utm=x"), page_key("/"), page_key("docs/#top")
    ('/p/12', '/', '/docs')
    """
    path = re.split(r"[?#]", page_path, maxsplit=1)[0].lower().rstrip("/")
    return "/" + path.lstrip("/")


class PageClusterer:
    """Maps pages to clusters with ordered rules; picklable and cheap per call.

    Parameters
    ----------
    rules
        The rules in priority order. Several rules may name the same cluster.
    max_clusters
        Distinct names, ``"other"`` and the rules' fixed names included, that pages may
        produce; once that many have appeared, a page whose rule names a new one is
        ``"other"`` (first come, first served, so the same pages in the same order give
        the same names).

    Attributes
    ----------
    clusters
        The fixed names of the rules, then ``"other"``; ``names()`` adds those pages made.

    Examples
    --------
    >>> clusterer = PageClusterer([ClusterRule.parse({"cluster": "news", "title": "^news"})])
    >>> clusterer.cluster_of("/n/1", "News of the day"), clusterer.clusters
    ('news', ('news', 'other'))
    >>> clusterer = PageClusterer([ClusterRule.parse({"per_page": True})], max_clusters=2)
    >>> [clusterer.cluster_of(page) for page in ("/a", "/b", "/a/")], clusterer.names()
    (['/a', 'other', '/a'], ('other', '/a'))
    """

    def __init__(self, rules: Iterable[ClusterRule], max_clusters: int = MAX_CLUSTERS):
        self.rules = tuple(rules)
        names = dict.fromkeys(rule.cluster for rule in self.rules if not rule.dynamic)
        names.pop(OTHER, None)
        self.clusters = (*names, OTHER)
        if max_clusters < len(self.clusters):
            raise ValueError(f"max_clusters={max_clusters} is fewer than the "
                             f"{len(self.clusters)} clusters the rules name, 'other' included")
        self.max_clusters = max_clusters
        self._names = dict.fromkeys(self.clusters)  # ordered: the order names appeared
        # Pages repeat all the time, so remembering answers skips most regex work.
        self._memo: dict[tuple[str, str], str] = {}

    @classmethod
    def from_file(cls, path: str | Path, max_clusters: int = MAX_CLUSTERS) -> PageClusterer:
        """Read rules from a TOML file; a bad file raises ValueError naming it and the rule."""
        try:
            with open(path, "rb") as file:
                document = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        entries = document.get("rule")
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{path}: no [[rule]] tables found")
        rules = [_parse_rule(path, index, entry) for index, entry in enumerate(entries, 1)]
        return cls(rules, max_clusters)

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
            cluster = page_path if page_path in self.clusters else self._admitted(next(
                filter(None, (rule.cluster_for(page_path, page_title) for rule in self.rules)),
                OTHER))
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = cluster
        return cluster

    def names(self) -> tuple[str, ...]:
        """Every name ``cluster_of`` can have given so far: ``clusters``, then the names
        pages made, in the order they first appeared."""
        return tuple(self._names)

    def _admitted(self, cluster: str) -> str:
        if cluster not in self._names:
            if len(self._names) >= self.max_clusters:
                return OTHER
            self._names[cluster] = None
        return cluster

    def __repr__(self) -> str:
        return (f"PageClusterer({len(self.rules)} rules, {len(self.clusters)} clusters, "
                f"{len(self._names)} of at most {self.max_clusters} seen)")


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


def _group_key(name: str) -> int | str:
    return int(name) if name.isdigit() else name


def _name_part(text: str | None) -> str:
    """Captured text as part of a cluster name: lower case, only ``[a-z0-9_-]``."""
    return _NOT_NAME.sub("_", (text or "").lower())
