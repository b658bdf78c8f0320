"""Live metrics of the workers: counted in each worker, merged for the whole cluster.

Each worker counts what it does in a :class:`WorkerMetrics` and publishes a snapshot to the
metrics topic every second. Everything in a snapshot is additive (counters, rates over the
last seconds, latency histograms, prequential :class:`~stream.core.learning.prequential.Score`
records), so :func:`merge` sums the snapshots of all live workers into the figures of the
whole cluster exactly. :func:`prometheus_text` renders either in Prometheus text format.

>>> latency = Histogram()
>>> for ms in (3, 8, 12, 40, 250):
...     latency.add(ms)
>>> latency.count, latency.percentile(50)
(5, 12.5)
"""

from __future__ import annotations

import bisect
import collections
import math
import time
from typing import Callable, Iterable

from stream.core import estimates
from stream.core.learning.cluster import MODEL_NAMES
from stream.core.learning.prequential import Score, WindowedScore

# Upper bounds (ms) of the latency buckets; a last, unbounded bucket catches the rest.
LATENCY_BOUNDS_MS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
                     1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 30_000, 60_000)
COUNTERS = ("events_in", "recommendations", "cold_recommendations", "dead_letters",
            "repeats_skipped", "served_scored", "served_followed", "outcomes")
VARIANT_COUNTERS = ("page_views", "sessions", "explored", "served_scored", "served_followed")
WINDOW_S = 60      # latency percentiles over the last minute
RATE_S = 10        # events per second over the last ten seconds
RECENT = 20        # recommendations kept for the live feed
STALE_AFTER_S = 10  # a worker silent for longer is left out of the cluster figures


class Histogram:
    """Counts of values per bucket of :data:`LATENCY_BOUNDS_MS` (mergeable by addition)."""

    def __init__(self, counts: Iterable[int] | None = None):
        self.counts = list(counts) if counts is not None else [0] * (len(LATENCY_BOUNDS_MS) + 1)

    def add(self, value_ms: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BOUNDS_MS, value_ms)] += 1

    @property
    def count(self) -> int:
        return sum(self.counts)

    def __add__(self, other: "Histogram") -> "Histogram":
        return Histogram(a + b for a, b in zip(self.counts, other.counts))

    def __sub__(self, other: "Histogram") -> "Histogram":
        return Histogram(a - b for a, b in zip(self.counts, other.counts))

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile, interpolated linearly inside its bucket (None if empty)."""
        total = self.count
        if not total:
            return None
        rank, seen = q / 100 * total, 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                low = LATENCY_BOUNDS_MS[i - 1] if i else 0.0
                high = LATENCY_BOUNDS_MS[i] if i < len(LATENCY_BOUNDS_MS) else low
                return round(low + (high - low) * (rank - seen) / n, 1)
            seen += n
        return float(LATENCY_BOUNDS_MS[-1])


class WorkerMetrics:
    """What one worker has done since it started, and over its last seconds.

    The agents call :meth:`received`, :meth:`recommended`, :meth:`dead_lettered` and
    :meth:`scored`; a timer calls :meth:`snapshot` once a second.
    """

    def __init__(self, worker: str, clock: Callable[[], float] = time.time,
                 control: str | None = None, window_s: float = 600.0):
        self.worker, self.clock, self.control = worker, clock, control
        self.outcomes = estimates.WindowedTally(window_s, clock)
        self.started = clock()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.latency = Histogram()
        self.scores = {name: WindowedScore() for name in MODEL_NAMES}
        self.recent: collections.deque = collections.deque(maxlen=RECENT)
        self.latest: dict[str, dict] = {}  # cluster -> its last recommendation
        self.variants: dict[str, dict[str, int]] = {}  # variant -> VARIANT_COUNTERS
        self.snapshot_age_ms: int | None = None  # oldest served from since the last snapshot
        self._samples: collections.deque = collections.deque()  # (time, counters, latency)
        self._sample(self.started)

    def received(self) -> None:
        self.counters["events_in"] += 1

    def dead_lettered(self) -> None:
        self.counters["dead_letters"] += 1

    def recommended(self, rec: dict) -> None:
        """Count a published recommendation (a Recommendation as a dict)."""
        self.counters["recommendations"] += 1
        self.counters["cold_recommendations"] += bool(rec["cold"])
        self.latency.add(rec["publish_time"] - rec["ingest_time"])
        self.recent.append(rec)
        self.latest[rec["cluster"]] = rec
        variant = self._variant(rec.get("variant", "default"))
        variant["page_views"] += 1
        variant["sessions"] += rec["sequence"] == 1
        variant["explored"] += bool(rec.get("explored"))

    def _variant(self, name: str) -> dict[str, int]:
        return self.variants.setdefault(name, dict.fromkeys(VARIANT_COUNTERS, 0))

    def scored(self, name: str, delta: Score) -> None:
        self.scores[name].add(delta)

    def skipped_repeat(self) -> None:
        """A page view delivered again after it was answered (and checkpointed)."""
        self.counters["repeats_skipped"] += 1

    def served(self, followed: bool, variant: str = "default") -> None:
        """A session moved on after a recommendation of ``variant``: to one of its
        clusters, or not."""
        self.counters["served_scored"] += 1
        self.counters["served_followed"] += followed
        counts = self._variant(variant)
        counts["served_scored"] += 1
        counts["served_followed"] += followed

    def session_ended(self, outcomes: list[dict]) -> None:
        """A session ended: the outcomes of its recommendations (:mod:`stream.core.outcomes`)."""
        self.counters["outcomes"] += len(outcomes)
        self.outcomes.add_session(outcomes)

    def served_from(self, age_ms: int | None) -> None:
        """A recommendation was computed from snapshots ``age_ms`` old (None: none yet)."""
        if age_ms is not None:
            self.snapshot_age_ms = max(self.snapshot_age_ms or 0, age_ms)

    def snapshot(self, gauges: dict | None = None) -> dict:
        """This worker's figures as JSON: counters, recent rates and latency, scores, and
        the ``gauges`` the caller measured (tables, lag, memory, ...)."""
        now = self.clock()
        self._sample(now)
        rate_from, window_from = self._sample_at(now - RATE_S), self._sample_at(now - WINDOW_S)
        seconds = now - rate_from[0]
        return {
            "worker": self.worker, "time": now, "started": self.started,
            "counters": dict(self.counters),
            "rates": {name: (self.counters[name] - rate_from[1][name]) / seconds if seconds else 0.0
                      for name in COUNTERS},
            "latency": self.latency.counts,
            "latency_window": (self.latency - window_from[2]).counts,
            "scores": {name: {"total": s.total.to_json(), "window": s.recent.to_json()}
                       for name, s in self.scores.items()},
            "recent": list(self.recent),
            "latest": dict(self.latest),
            "snapshot_age_ms": self._take_snapshot_age(),
            "variants": {name: dict(counts) for name, counts in self.variants.items()},
            "experiment": {"control": self.control, "window_s": self.outcomes.window_s,
                           "total": self.outcomes.total.sums,
                           "window": self.outcomes.window()},
            **(gauges or {}),
        }

    def _take_snapshot_age(self) -> int | None:
        age, self.snapshot_age_ms = self.snapshot_age_ms, None
        return age

    def _sample(self, now: float) -> None:
        """Remember the counters now; keep one sample at or before the window's start."""
        self._samples.append((now, dict(self.counters), Histogram(self.latency.counts)))
        while len(self._samples) > 1 and self._samples[1][0] <= now - WINDOW_S:
            self._samples.popleft()

    def _sample_at(self, when: float) -> tuple:
        """The newest sample taken at or before ``when`` (else the oldest there is)."""
        best = self._samples[0]
        for sample in self._samples:
            if sample[0] > when:
                break
            best = sample
        return best


def merge(snapshots: Iterable[dict], now: float | None = None) -> dict:
    """The figures of the whole cluster from the workers' latest snapshots.

    Snapshots older than :data:`STALE_AFTER_S` are left out (a stopped worker); they are
    listed under ``stale_workers``.
    """
    now = time.time() if now is None else now
    snapshots = list(snapshots)
    live = [s for s in snapshots if now - s["time"] <= STALE_AFTER_S]
    latency, window = Histogram(), Histogram()
    scores = {name: {"total": Score(), "window": Score()} for name in MODEL_NAMES}
    for snap in live:
        latency += Histogram(snap["latency"])
        window += Histogram(snap["latency_window"])
        for name, score in snap["scores"].items():
            for part in ("total", "window"):
                scores[name][part] += Score.from_json(score[part])
    return {
        "time": now,
        "workers": [_worker_row(s, now) for s in sorted(live, key=lambda s: s["worker"])],
        "stale_workers": sorted(s["worker"] for s in snapshots if s not in live),
        "counters": {name: sum(s["counters"][name] for s in live) for name in COUNTERS},
        "rates": {name: round(sum(s["rates"][name] for s in live), 2) for name in COUNTERS},
        "served": _served(live),
        "variants": _variants(live),
        "experiment": _experiment(live),
        "snapshot_age_ms": max((s["snapshot_age_ms"] for s in live
                                if s.get("snapshot_age_ms") is not None), default=None),
        "latency_ms": {"window_s": WINDOW_S, "count": window.count,
                       **{f"p{q}": window.percentile(q) for q in (50, 95, 99)}},
        "latency_histogram": {"bounds_ms": list(LATENCY_BOUNDS_MS), "counts": latency.counts},
        "accuracy": {name: {part: s.as_dict() for part, s in parts.items()}
                     for name, parts in scores.items()},
        "lag": _merged_lag(live),
        "open_sessions": sum(s.get("open_sessions", 0) for s in live),
        "tables": _summed(s.get("tables", {}) for s in live),
        "memory_rss_bytes": sum(s.get("memory_rss_bytes", 0) for s in live),
        "recent": sorted((rec for s in live for rec in s["recent"]),
                         key=lambda rec: rec["publish_time"])[-RECENT:],
        "latest": _latest(live),
        "network": {cluster: edges for s in live for cluster, edges in s.get("network", {}).items()},
    }


def _served(live: list[dict]) -> dict:
    """Served HR@k: how often a session's next page was among the clusters recommended for
    its previous one, in total and over the last seconds (from the rates)."""
    def share(source: str) -> float | None:
        scored = sum(s[source]["served_scored"] for s in live)
        followed = sum(s[source]["served_followed"] for s in live)
        return round(followed / scored, 4) if scored else None
    return {"scored": sum(s["counters"]["served_scored"] for s in live),
            "hit_rate": share("counters"), "hit_rate_recent": share("rates")}


def _variants(live: list[dict]) -> dict[str, dict]:
    """Per variant: sessions and page views served, how many were explored, and its served
    HR@k (sessions are counted where they start, so they add up across workers)."""
    total: dict[str, dict] = {}
    for snap in live:
        for name, counts in snap.get("variants", {}).items():
            into = total.setdefault(name, dict.fromkeys(VARIANT_COUNTERS, 0))
            for key in VARIANT_COUNTERS:
                into[key] += counts.get(key, 0)
    for counts in total.values():
        scored = counts["served_scored"]
        counts["hit_rate"] = round(counts["served_followed"] / scored, 4) if scored else None
    return dict(sorted(total.items()))


def _experiment(live: list[dict]) -> dict:
    """The experiment's figures over the outcomes of every live worker, in total and over
    the window (:func:`stream.core.estimates.figures`)."""
    parts = [s["experiment"] for s in live if "experiment" in s]
    control = next((p["control"] for p in parts if p["control"]), None)
    return {"control": control,
            "window_s": parts[0]["window_s"] if parts else None,
            **{part: estimates.figures(estimates.merged(p[part] for p in parts), control)
               for part in ("total", "window")}}


def _worker_row(snap: dict, now: float) -> dict:
    return {"worker": snap["worker"], "age_s": round(now - snap["time"], 1),
            "uptime_s": round(snap["time"] - snap["started"]),
            "events_in": snap["counters"]["events_in"],
            "recommendations": snap["counters"]["recommendations"],
            "memory_rss_bytes": snap.get("memory_rss_bytes", 0),
            "partitions": snap.get("partitions", [])}


def _merged_lag(live: list[dict]) -> dict[str, dict[str, int]]:
    """topic -> partition -> messages not yet read, from the worker that owns the partition."""
    lag: dict[str, dict[str, int]] = {}
    for snap in live:
        for topic, partitions in snap.get("lag", {}).items():
            lag.setdefault(topic, {}).update(partitions)
    return {topic: dict(sorted(parts.items(), key=lambda kv: int(kv[0])))
            for topic, parts in sorted(lag.items())}


def _summed(dicts: Iterable[dict]) -> dict:
    total: dict = {}
    for d in dicts:
        for key, value in d.items():
            total[key] = total.get(key, 0) + value
    return total


def _latest(live: list[dict]) -> dict[str, dict]:
    """cluster -> the most recent recommendation published for it, by any worker."""
    latest: dict[str, dict] = {}
    for snap in live:
        for cluster, rec in snap.get("latest", {}).items():
            if cluster not in latest or rec["publish_time"] > latest[cluster]["publish_time"]:
                latest[cluster] = rec
    return latest


_HELP = {
    "events_in": "valid page views received",
    "recommendations": "recommendations published",
    "cold_recommendations": "recommendations with nothing to recommend yet (cold start)",
    "dead_letters": "input messages rejected to the dead-letter topic",
    "repeats_skipped": "page views delivered again after they were answered and checkpointed",
    "served_scored": "recommendations whose session moved on (scored for served HR@k)",
    "served_followed": "of those, the session's next page was among the recommended clusters",
    "outcomes": "outcomes of served recommendations published (at their session's end)",
}


def value_summary(values: dict) -> dict:
    """Mean V(s) and mean page value over the clusters that had visitors (ClusterValues)."""
    visited = [v for v in values.values() if v.visitors]
    n = len(visited) or 1
    return {"mean_q": sum(v.value for v in visited) / n,
            "mean_page_value": sum(v.page_value for v in visited) / n,
            "clusters_visited": len(visited)}


def prometheus_text(merged: dict, values: dict) -> str:
    """The figures of :func:`merge` and the :func:`value_summary` ``values`` in the
    Prometheus text exposition format (version 0.0.4)."""
    out = _Exposition()
    for name in COUNTERS:
        out.metric(f"{name}_total", "counter", f"{_HELP[name]} (since the workers started)",
                   [({}, merged["counters"][name])])
        out.metric(f"{name}_per_second", "gauge", f"{_HELP[name]} per second, last {RATE_S} s",
                   [({}, merged["rates"][name])])
    out.histogram("latency_seconds", "ingest-to-publish latency of recommendations (s)",
                  merged["latency_histogram"]["counts"])
    out.metric("latency_window_ms", "gauge",
               f"ingest-to-publish latency percentile over the last {WINDOW_S} s (ms)",
               [({"quantile": str(q / 100)}, merged["latency_ms"][f"p{q}"])
                for q in (50, 95, 99) if merged["latency_ms"][f"p{q}"] is not None])
    for stat, help_ in (("hr3", "hit rate at 3"), ("hr5", "hit rate at 5"),
                        ("top1", "top-1 accuracy"), ("mrr", "mean reciprocal rank")):
        out.metric(f"next_page_{stat}", "gauge", f"prequential next-page {help_}",
                   [({"model": name, "window": part}, figures[part][stat])
                    for name, figures in merged["accuracy"].items()
                    for part in ("window", "total")])
    out.metric("next_page_scored_total", "counter", "transitions scored (predict, then learn)",
               [({"model": name}, figures["total"]["events"])
                for name, figures in merged["accuracy"].items()])
    if merged["served"]["hit_rate"] is not None:
        out.metric("served_hit_rate", "gauge", "share of recommendations followed: the "
                   "session's next page was among the recommended clusters (served HR@k)",
                   [({"window": "total"}, merged["served"]["hit_rate"])])
    for key, help_ in (("sessions", "sessions assigned"), ("page_views", "page views served"),
                       ("explored", "page views whose list was explored")):
        out.metric(f"variant_{key}_total", "counter", f"{help_}, per experiment variant",
                   [({"variant": name}, counts[key])
                    for name, counts in merged["variants"].items()])
    out.metric("variant_served_hit_rate", "gauge", "served HR@k per experiment variant",
               [({"variant": name}, counts["hit_rate"])
                for name, counts in merged["variants"].items() if counts["hit_rate"] is not None])
    _experiment_metrics(out, merged["experiment"])
    if merged["snapshot_age_ms"] is not None:
        out.metric("snapshot_age_ms", "gauge", "age of the oldest snapshot a recommendation "
                   "was served from in the last second (ms)", [({}, merged["snapshot_age_ms"])])
    out.metric("consumer_lag", "gauge", "messages not yet read, per input partition",
               [({"topic": topic, "partition": p}, n)
                for topic, parts in merged["lag"].items() for p, n in parts.items()])
    out.metric("open_sessions", "gauge", "sessions not yet ended",
               [({}, merged["open_sessions"])])
    out.metric("table_keys", "gauge", "keys of the worker tables (a global table counts once per worker)",
               [({"table": table}, n) for table, n in merged["tables"].items()])
    out.metric("resident_memory_bytes", "gauge", "resident memory of the worker processes",
               [({}, merged["memory_rss_bytes"])])
    out.metric("workers", "gauge", f"live workers (metrics seen in the last {STALE_AFTER_S} s)",
               [({}, len(merged["workers"]))])
    out.metric("mean_q", "gauge", "mean over visited clusters of V(s) = max_a Q(s, a)",
               [({}, values["mean_q"])])
    out.metric("mean_page_value", "gauge", "mean page value over visited clusters",
               [({}, values["mean_page_value"])])
    return out.text()


def _experiment_metrics(out: "_Exposition", experiment: dict) -> None:
    """Per variant its means, per target its off-policy estimates: each with its 95 %
    interval (``bound``: mean, low, high), in total and over the window."""
    bounds = ("mean", "low", "high")
    arms, offpolicy, ess = [], [], []
    for part in ("total", "window"):
        for name, arm in experiment[part]["variants"].items():
            arms += [({"variant": name, "metric": metric, "window": part, "bound": b}, m[b])
                     for metric, m in arm.items() if metric != "vs_control"
                     for b in bounds if m[b] is not None]
        for target, parts in experiment[part]["offpolicy"].items():
            for reward in estimates.REWARDS:
                found = parts.get(reward)
                if found is None:
                    continue
                offpolicy += [({"target": target, "reward": reward, "estimator": e,
                                "window": part, "bound": b}, found[e][b])
                              for e in ("ips", "snips", "dr") for b in bounds
                              if found[e][b] is not None]
                if reward == "hit":
                    ess.append(({"target": target, "window": part}, found["ess"]))
    out.metric("variant_outcome", "gauge", "per experiment variant, from its outcomes: "
               "hit_rate, followed_value, value_per_session, conversion (95 % interval)", arms)
    out.metric("offpolicy_estimate", "gauge", "per target variant, off-policy from the "
               "exploring variants' logged propensities (95 % interval)", offpolicy)
    out.metric("offpolicy_effective_sample_size", "gauge",
               "effective sample size of the off-policy weights, per target variant", ess)


class _Exposition:
    """Lines of the Prometheus text format, metric by metric."""

    def __init__(self):
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_: str, samples: list[tuple[dict, float]]):
        self._header(name, kind, help_)
        for labels, value in samples:
            self._sample(f"pagepilot_{name}", labels, value)

    def histogram(self, name: str, help_: str, counts: list[int]) -> None:
        """Cumulative buckets in seconds; the sum is estimated from the bucket bounds."""
        self._header(name, "histogram", help_)
        cumulative = 0
        for bound, n in zip(LATENCY_BOUNDS_MS, counts):
            cumulative += n
            self._sample(f"pagepilot_{name}_bucket", {"le": _number(bound / 1000)}, cumulative)
        total = cumulative + counts[-1]
        self._sample(f"pagepilot_{name}_bucket", {"le": "+Inf"}, total)
        self._sample(f"pagepilot_{name}_count", {}, total)
        bounds = (*LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[-1])
        self._sample(f"pagepilot_{name}_sum", {}, sum(n * b for n, b in zip(counts, bounds)) / 1000)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _header(self, name: str, kind: str, help_: str) -> None:
        self.lines += [f"# HELP pagepilot_{name} {help_}", f"# TYPE pagepilot_{name} {kind}"]

    def _sample(self, name: str, labels: dict, value: float) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{text}}} {_number(value)}" if text
                          else f"{name} {_number(value)}")


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return repr(value) if isinstance(value, float) else str(value)
