"""``pagepilot clusters suggest``: a first rules file for any site, from its page views.

Paths are cut into segments and ids are collapsed (numbers, hex and uuid-like codes, SKU-like
and long slug-like segments with digits become ``[^/]+``), so ``/p/123`` and ``/p/456`` are one
template. The templates form a tree of path prefixes; the busiest prefixes are taken, one at a
time, until ``limit`` rules hold most of the traffic, and a prefix left with nothing of its
own once its busy children have rules is dropped. Children's rules come before their parent's,
which keeps what is left below it; the rest of the site is ``"other"``.

>>> views = ["/c/news/1", "/c/news/2", "/c/sport/3", "/", "/about.html"]
>>> text, summary = suggest_rules(collections.Counter(views), limit=3)
>>> print(text.split("\\n\\n", 1)[1])  # doctest: +NORMALIZE_WHITESPACE
# 2 page views (40.0%), e.g. /c/news/1, /c/news/2
[[rule]]
cluster = "c_news"
path = '^/c/news(/|\\?|$)'
<BLANKLINE>
# 1 page views (20.0%), e.g. /c/sport/3
[[rule]]
cluster = "c"
path = '^/c(/|\\?|$)'
<BLANKLINE>
# 1 page views (20.0%), e.g. /
[[rule]]
cluster = "home"
path = '^/(/|\\?|$)'
<BLANKLINE>
>>> summary.rules, round(summary.covered, 2)
(3, 0.8)
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import json
import re
import tomllib
from collections.abc import Iterable

from stream.core.clusters import MAX_CLUSTERS, OTHER, ClusterRule, PageClusterer, page_key

DEFAULT_LIMIT = 20  # clusters a suggested file names; tens keep each cluster's data dense
EXAMPLES = 2  # example paths in the comment above each rule
WILDCARD = "[^/]+"
_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}$")
_ID_LIKE = (
    re.compile(r"\d+"),                                     # 123
    re.compile(r"(?=[0-9a-f-]*\d)[0-9a-f]{8,}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"),
    re.compile(r"(?=(?:[a-z]*\d){3})[a-z0-9]{6,}"),         # sku12345, ggoegxxx1234
    re.compile(r"(?=.*\d)(?=.*[-_+.])[a-z0-9-_+.]{16,}"),   # google-bike-bell-2019
    re.compile(r"\d{4}-\d{2}(-\d{2})?"),                    # 1995-07-01
)
_NAME_LENGTH = 40
_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")  # what a literal segment escapes (not re.escape's "-")


@dataclasses.dataclass
class Summary:
    """What a suggested file holds: its rules and the share of page views they name."""

    rules: int
    views: int
    pages: int
    covered: float
    collapsed: bool = False  # ids made fewer templates than the limit allowed

    def line(self, where: str) -> str:
        """The one line the command prints."""
        hint = (f"; ids make {self.pages:,} pages {self.rules} templates, --per-page gives "
                "each page its own cluster") if self.collapsed else ""
        return (f"wrote {self.rules} rules to {where}: named clusters cover {self.covered:.1%} "
                f"of {self.views:,} page views ({self.pages:,} distinct pages; the rest is "
                f"{OTHER!r}){hint}")


@dataclasses.dataclass(eq=False)
class _Node:
    """A path prefix of collapsed segments and the page views at or below it."""

    segments: tuple[str, ...]
    views: int = 0
    children: dict[str, _Node] = dataclasses.field(default_factory=dict)

    def child(self, segment: str) -> _Node:
        if segment not in self.children:
            self.children[segment] = _Node((*self.segments, segment))
        return self.children[segment]

    def ordered(self) -> list[_Node]:
        """Children busiest first, a wildcard last: it would also take its literal siblings."""
        return sorted(self.children.values(),
                      key=lambda node: (node.segments[-1] == WILDCARD, -node.views,
                                        node.segments))


def suggest_rules(page_views: collections.Counter, limit: int = DEFAULT_LIMIT, *,
                  per_page: bool = False, max_clusters: int = MAX_CLUSTERS,
                  source: str = "") -> tuple[str, Summary]:
    """A rules file (TOML text) for pages seen ``page_views[path]`` times, and its summary.

    Parameters
    ----------
    page_views
        Page views per page path as the input has them (query strings included), in the
        order the pages first appear.
    limit
        Rules at most, each naming one cluster.
    per_page
        Write one ``per_page`` rule instead: a cluster per page (item-level data).
    max_clusters
        The bound of the run that will use the rules (``PAGEPILOT_MAX_CLUSTERS``): with
        ``per_page``, pages are named in the order they first appear until it is reached.
    source
        Named in the file's heading.
    """
    if limit < 1:
        raise ValueError(f"--max must be at least 1, got {limit}")
    total = sum(page_views.values())
    if not total:
        raise ValueError("no page views to suggest clusters from")
    pages = len({page_key(path) for path in page_views})
    root = _tree(page_views)
    rules = [_PER_PAGE] if per_page else _rules(root, _choose(root, limit))
    clusterer = PageClusterer([ClusterRule.parse(rule) for rule in rules], max_clusters)
    views, examples = _cover(clusterer, page_views)
    covered = 1 - views.get(OTHER, 0) / total
    blocks = [_heading(source, total, pages, len(rules), covered)]
    blocks += [_block(rule, views, examples, total, max_clusters) for rule in rules]
    text = "\n".join(blocks)
    tomllib.loads(text)  # what we wrote must read back
    collapsed_ids = not per_page and len(rules) < min(limit, pages)
    return text, Summary(len(rules), total, pages, covered, collapsed_ids)


_PER_PAGE = {"per_page": True}


def collapsed(path: str) -> tuple[str, ...]:
    """A page's path as segments, ids replaced by ``WILDCARD``.

    >>> collapsed("/Shop/p/12345/Reviews?page=2")
    ('shop', 'p', '[^/]+', 'reviews')
    >>> collapsed("/u/0f8fad5b-d9cb-469f-a165-70867728950e"), collapsed("/")
    (('u', '[^/]+'), ('',))
    """
    segments = page_key(path).strip("/").split("/")
    return tuple(WILDCARD if _is_id(segment) else segment for segment in segments)


def _is_id(segment: str) -> bool:
    stem = _EXTENSION.sub("", segment)
    return any(pattern.fullmatch(stem) for pattern in _ID_LIKE)


def _tree(page_views: collections.Counter) -> _Node:
    root = _Node(())
    for path, count in page_views.items():
        node = root
        root.views += count
        for segment in collapsed(path):
            node = node.child(segment)
            node.views += count
    return root


def _choose(root: _Node, limit: int) -> set[_Node]:
    """The busiest prefixes, at most ``limit``, each keeping traffic of its own.

    A prefix's children become candidates once it is taken. When the taken prefixes below a
    taken one leave it nothing, it goes if they are several (``/c`` above ``/c/news`` and
    ``/c/sport``), else the one below goes (``/c/news/[^/]+`` below ``/c/news``); then the
    next busiest is taken.
    """
    chosen: set[_Node] = set()
    candidates = [_ranked(node) for node in root.children.values()]
    heapq.heapify(candidates)
    while candidates:
        while candidates and len(chosen) < limit:
            node = heapq.heappop(candidates)[-1]
            chosen.add(node)
            for child in node.children.values():
                heapq.heappush(candidates, _ranked(child))
        redundant = set()
        for node in chosen:
            below = _taken_below(node, chosen)
            if sum(child.views for child in below) == node.views:
                redundant |= set(below) if len(below) == 1 else {node}
        if not redundant:
            break
        chosen -= redundant
    return chosen


def _ranked(node: _Node) -> tuple:
    return -node.views, node.segments, id(node), node


def _taken_below(node: _Node, chosen: set[_Node]) -> list[_Node]:
    """The chosen nodes nearest below ``node``."""
    taken, pending = [], list(node.children.values())
    while pending:
        child = pending.pop()
        if child in chosen:
            taken.append(child)
        else:
            pending.extend(child.children.values())
    return taken


def _rules(root: _Node, chosen: set[_Node]) -> list[dict]:
    """Rules of the chosen prefixes in tree order, children before their parent, with
    unique names."""
    order: list[_Node] = []
    pending: list[tuple[_Node, bool]] = [(root, False)]
    while pending:  # depth first, a node after its children
        node, visited = pending.pop()
        if visited:
            order += [node] if node in chosen else []
            continue
        pending.append((node, True))
        pending += [(child, False) for child in reversed(node.ordered())]
    names: set[str] = set()
    return [{"cluster": _unique(_name(node.segments), names), "path": _pattern(node.segments)}
            for node in order]


def _pattern(segments: tuple[str, ...]) -> str:
    """The path regex of a prefix: it and all below it, with or without a query string."""
    parts = (part if part == WILDCARD else _SPECIAL.sub(r"\\\g<0>", part) for part in segments)
    return "^/" + "/".join(parts) + r"(/|\?|$)"


def _name(segments: tuple[str, ...]) -> str:
    """A cluster name from a prefix: its segments without file extensions, ``id`` for ids.

    >>> _name(("shuttle", "missions", "[^/]+", "index.html")), _name(("",))
    ('shuttle_missions_id_index', 'home')
    """
    words = ["id" if part == WILDCARD else _EXTENSION.sub("", part) for part in segments]
    name = re.sub(r"[^a-z0-9]+", "_", "_".join(words)).strip("_")[:_NAME_LENGTH].strip("_")
    return name or "home"


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or with a number after it when another rule or "other" has it."""
    candidate, number = name, 1
    while candidate in taken or candidate == OTHER:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


def _cover(clusterer: PageClusterer,
           page_views: collections.Counter) -> tuple[collections.Counter, dict[str, list[str]]]:
    """Page views per cluster the rules give, and each cluster's busiest paths."""
    # In the order pages first appeared, as a run names them within its bound.
    cluster_of = {path: clusterer.cluster_of(path) for path in page_views}
    views: collections.Counter = collections.Counter()
    examples: dict[str, list[str]] = collections.defaultdict(list)
    for path, count in page_views.most_common():
        views[cluster_of[path]] += count
        if len(examples[cluster_of[path]]) < EXAMPLES:
            examples[cluster_of[path]].append(path)
    return views, examples


def _heading(source: str, total: int, pages: int, rules: int, covered: float) -> str:
    what = f"{rules} rules; named clusters cover {covered:.1%} of the page views"
    return (f"# Page-cluster rules suggested by `pagepilot clusters suggest` from "
            f"{_printable(source) or 'page views'}:\n"
            f"# {total:,} page views of {pages:,} distinct pages; {what}.\n"
            "# Rules are tried in order, the first match wins, the rest is \"other\". Rename\n"
            "# the clusters, merge or split rules, then use the file with\n"
            "# PAGEPILOT_CLUSTER_RULES=<this file> "
            "(see stream/core/clusters.toml for the syntax).\n")


def _block(rule: dict, views: collections.Counter, examples: dict[str, list[str]],
           total: int, max_clusters: int) -> str:
    name = rule.get("cluster")
    if name is None:
        count = total - views.get(OTHER, 0)
        what = (f"a cluster per page, named after it, for the first {max_clusters - 1:,} "
                f"pages to appear (PAGEPILOT_MAX_CLUSTERS={max_clusters})")
    else:
        count = views.get(name, 0)
        what = "e.g. " + ", ".join(map(_printable, examples.get(name, [])))
    lines = [f"# {count:,} page views ({count / total:.1%}), {what}", "[[rule]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in rule.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A literal string keeps regex backslashes readable; JSON escapes are TOML's otherwise.
    if "'" not in text and text.isprintable():
        return f"'{text}'" if "\\" in text or "[" in text else json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in text)
