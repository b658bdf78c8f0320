"""``pagepilot watch``: the live figures of the workers in the terminal.

Reads a worker's ``/api/metrics`` and ``/api/network`` (figures of the whole cluster) about
once a second and draws them with rich: throughput, latency, lag, accuracy of the model and
the baselines, the busiest page clusters with their recommended next page, and the latest
recommendations.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


def fetch(base_url: str, timeout_s: float = 5.0) -> tuple[dict, dict]:
    """The metrics and the network, from a worker at ``base_url``."""
    def get(path: str) -> dict:
        with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=timeout_s) as response:
            return json.load(response)
    return get("/api/metrics"), get("/api/network")


def render(metrics: dict, network: dict, top: int = 8) -> Group:
    """One frame of the view."""
    return Group(_header(metrics), _flow(metrics), _accuracy(metrics), _lag(metrics),
                 _clusters(network, top), _recent(metrics))


def watch(base_url: str, interval_s: float = 1.0, once: bool = False,
          console: Console | None = None) -> int:
    """Refresh until Ctrl-C (``once``: print one frame and return)."""
    console = console or Console()
    if once:
        console.print(render(*fetch(base_url)))
        return 0
    with Live(Text(f"connecting to {base_url} ..."), console=console,
              refresh_per_second=4, screen=False) as live:
        while True:
            try:
                live.update(render(*fetch(base_url)))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                live.update(Text(f"cannot read {base_url}: {exc}; retrying", style="red"))
            time.sleep(interval_s)


def _header(m: dict) -> Text:
    stale = f", {len(m['stale_workers'])} silent" if m["stale_workers"] else ""
    when = time.strftime("%H:%M:%S", time.localtime(m["time"]))
    return Text.assemble(("PagePilot live", "bold"),
                         f"  {len(m['workers'])} worker(s){stale}, "
                         f"{m['memory_rss_bytes'] / 2**20:,.0f} MiB, "
                         f"{m['open_sessions']:,} open sessions, updated {when}")


def _flow(m: dict) -> Table:
    table = Table(title="Flow", title_justify="left", expand=False)
    for column in ("", "per second", "total"):
        table.add_column(column, justify="right" if column else "left")
    labels = {"events_in": "page views in", "recommendations": "recommendations out",
              "cold_recommendations": "  of which cold start", "dead_letters": "dead letters"}
    for name, label in labels.items():
        table.add_row(label, f"{m['rates'][name]:,.1f}", f"{m['counters'][name]:,}")
    latency = m["latency_ms"]
    table.add_row(f"latency p50 / p95 / p99 (last {latency['window_s']} s)",
                  " / ".join(_ms(latency[p]) for p in ("p50", "p95", "p99")), "ms")
    values = m.get("values", {})
    if values:
        table.add_row("mean V(s) / mean page value",
                      f"{values['mean_q']:,.1f} / {values['mean_page_value']:,.2f}", "")
    return table


def _accuracy(m: dict) -> Table:
    table = Table(title="Next-page accuracy (prequential: predict, then learn)",
                  title_justify="left")
    table.add_column("model")
    for column in ("recent events", "HR@3", "HR@5", "MRR", "total events", "total HR@3"):
        table.add_column(column, justify="right")
    for name, figures in m["accuracy"].items():
        window, total = figures["window"], figures["total"]
        table.add_row(name, f"{window['events']:,}", f"{window['hr3']:.3f}",
                      f"{window['hr5']:.3f}", f"{window['mrr']:.3f}", f"{total['events']:,}",
                      f"{total['hr3']:.3f}")
    return table


def _lag(m: dict) -> Table:
    table = Table(title="Consumer lag (messages not yet read)", title_justify="left")
    table.add_column("topic")
    partitions = sorted({p for parts in m["lag"].values() for p in parts}, key=int)
    for p in partitions:
        table.add_column(f"p{p}", justify="right")
    for topic, parts in m["lag"].items():
        table.add_row(Text(topic), *(f"{parts[p]:,}" if p in parts else "-" for p in partitions))
    return table


def _clusters(network: dict, top: int) -> Table:
    table = Table(title=f"Busiest page clusters (top {top})", title_justify="left")
    table.add_column("page cluster")
    for column in ("visitors", "page value", "V(s)", "exit rate"):
        table.add_column(column, justify="right")
    table.add_column("recommended next")
    for node in sorted(network["nodes"], key=lambda n: -n["visitors"])[:top]:
        table.add_row(Text(node["cluster"]), f"{node['visitors']:,}",
                      f"{node['page_value']:,.2f}", f"{node['value']:,.1f}",
                      f"{node['exit_rate']:.0%}", Text(node["recommended"] or "-"))
    return table


def _recent(m: dict, count: int = 5) -> Table:
    table = Table(title="Latest recommendations", title_justify="left")
    for column in ("session", "page", "recommended next pages", "latency"):
        table.add_column(column, justify="right" if column == "latency" else "left")
    for rec in reversed(m["recent"][-count:]):
        items = "(cold start)" if rec["cold"] else ", ".join(
            f"{item['cluster']} ({item['probability']:.2f})" for item in rec["items"])
        table.add_row(Text(rec["session_id"]), Text(rec["cluster"]), Text(items),
                      f"{rec['publish_time'] - rec['ingest_time']:,} ms")
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
