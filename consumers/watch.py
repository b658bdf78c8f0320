"""``pagepilot watch``: the live figures of the workers in the terminal.

Reads a worker's ``/api/metrics`` and ``/api/network`` (figures of the whole cluster) about
once a second and draws them with rich: throughput, latency, lag, accuracy of the model and
the baselines, the experiment's variants and off-policy estimates (their totals, with 95 %
intervals), the busiest page clusters with their recommended next page, and the latest
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

from stream.core import estimates


def fetch(base_url: str, timeout_s: float = 5.0) -> tuple[dict, dict]:
    """The metrics and the network, from a worker at ``base_url``."""
    def get(path: str) -> dict:
        with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=timeout_s) as response:
            return json.load(response)
    return get("/api/metrics"), get("/api/network")


def render(metrics: dict, network: dict, top: int = 8) -> Group:
    """One frame of the view."""
    return Group(_header(metrics), _flow(metrics), _accuracy(metrics), _experiment(metrics),
                 _lag(metrics), _clusters(network, top), _recent(metrics))


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


ARM_METRICS = (("hit_rate", "served HR@k", 3), ("value_per_session", "value / session", 2),
               ("conversion", "conversion", 3))
ESTIMATORS = (("ips", "IPS"), ("snips", "SNIPS"), ("dr", "DR"))


def experiment_lines(experiment: dict, variants: dict | None = None,
                     part: str = "total") -> list[str]:
    """The experiment's comparison as lines of plain text (``/api/metrics``' ``experiment``
    section, or any dict with its ``control`` and ``part``): per served variant its
    sessions, its outcomes and the means of its served HR@k, value per session and
    conversion with their 95 % intervals, and on the line below the difference to the
    control (``*`` where its interval excludes zero); then per off-policy target its
    support, the logged page views, its hit rate by IPS, SNIPS and DR, and the ESS.

    ``variants`` (``/api/metrics``' per-variant counters) adds the variants served whose
    sessions have not ended yet and counts the sessions where they start; without it a
    variant's sessions are those with an outcome.
    """
    control, figures = experiment["control"], experiment[part]
    arms = figures["variants"]
    names = sorted({*(variants or {}), *arms}, key=lambda name: (name != control, name))
    compare = len(names) > 1
    # a metric's cells end in its mark: " *" where significant, else "  " (so they align)
    rows = [("variant", "sessions", "outcomes", *(f"{label}  " for _, label, _ in ARM_METRICS))]
    for name in names:
        arm = arms.get(name, {})
        if variants is not None:
            sessions = variants.get(name, {}).get("sessions", 0)
        else:
            sessions = arm.get("value_per_session", {}).get("n", 0)
        rows.append((f"{name} (control)" if compare and name == control else name,
                     f"{sessions:,}", f"{arm.get('hit_rate', {}).get('n', 0):,}",
                     *(_interval(arm.get(metric), digits) + "  "
                       for metric, _, digits in ARM_METRICS)))
        if compare and name != control:
            differences = arm.get("vs_control", {})
            rows.append((f"  Δ to {control}", "", "", *(
                _interval(differences.get(metric), digits, signed=True)
                + (" *" if metric in differences and estimates.significant(differences[metric])
                   else "  ")
                for metric, _, digits in ARM_METRICS)))
    lines = _aligned(rows)
    offpolicy = figures["offpolicy"]
    if offpolicy:
        rows = [("off-policy hit rate", "support", "logged",
                 *(label for _, label in ESTIMATORS), "ESS")]
        for target, estimate in offpolicy.items():
            hit = estimate.get("hit", {})
            rows.append((target,
                         "-" if estimate["support"] is None else f"{estimate['support']:.0%}",
                         f"{hit.get('ips', {}).get('n', 0):,}",
                         *(_interval(hit.get(key), 3) for key, _ in ESTIMATORS),
                         "-" if hit.get("ess") is None else f"{hit['ess']:,.0f}"))
        lines += _aligned(rows)
    else:
        lines.append("off-policy: no targets" + (
            " yet (they come from exploring variants' ended sessions)" if compare
            else " (the other variants and shadows of an experiment file)"))
    lines.append("means with 95 % intervals" + (
        "; Δ: difference to the control, * where its interval excludes 0" if compare else ""))
    return lines


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell: the first left-aligned, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def _experiment(m: dict) -> Group:
    experiment = m.get("experiment")
    if not experiment:
        return Group()
    return Group(Text(f"Experiment, total (control {experiment['control'] or '-'})",
                      style="table.title"),
                 Text("\n".join(experiment_lines(experiment, m["variants"]))))


def _interval(m: dict | None, digits: int, signed: bool = False) -> str:
    """``0.412 [0.398, 0.426]``: a mean and its 95 % interval, ``-`` where not known yet."""
    if m is None or m["mean"] is None:
        return "-"
    def number(x):
        if x is None:
            return "-"
        return ("+" if signed and x > 0 else "") + f"{x:.{digits}f}"
    return f"{number(m['mean'])} [{number(m['low'])}, {number(m['high'])}]"


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
