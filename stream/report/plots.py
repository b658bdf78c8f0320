"""The report's figures, drawn with matplotlib from the report dict and saved as PNG.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot): no global state and no
display, so this runs headless and in threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from stream.report.impact import ALL_ESTIMATORS
from stream.report.outcomes import LABELS, METRICS, PERCENT

COLORS = {"model": "#1f77b4", "ips": "#ff7f0e", "snips": "#2ca02c", "dr": "#d62728",
          "logged": "#555555", "river": "#1f77b4", "markov": "#ff7f0e", "popular": "#7f7f7f"}
NAMES = {"model": "model-based", "ips": "IPS", "snips": "SNIPS", "dr": "DR"}
DPI = 110
FIGURES = ("accuracy", "page_value", "policy", "impact", "uplift")


def draw_all(report: dict, out_dir: Path) -> dict[str, str]:
    """Draw every figure into ``out_dir``; return figure name -> file name."""
    drawers = {"accuracy": accuracy, "page_value": page_value, "policy": policy,
               "impact": impact, "uplift": uplift}
    files = {}
    for name in FIGURES:
        fig = drawers[name](report)
        files[name] = f"{name}.png"
        fig.savefig(out_dir / files[name], dpi=DPI, bbox_inches="tight")
    return files


def accuracy(report: dict) -> Figure:
    """HR@3 and top-1 of the River model and both baselines, over the stream."""
    acc = report["accuracy"]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, score, title in zip(axes, ("hr3", "top1"), ("HR@3", "top-1 accuracy")):
        for model in ("river", "markov", "popular"):
            x = [p["events"] for p in acc["points"]]
            ax.plot(x, [p[model][score] for p in acc["points"]], label=model,
                    color=COLORS[model], linewidth=1.4)
        ax.axvline(acc["frozen_after_page_views"], color="black", linestyle="--", linewidth=1,
                   label="policy frozen")
        ax.set(title=f"{title}, last {acc['window']:,} transitions", xlabel="page views",
               ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    return fig


def page_value(report: dict) -> Figure:
    """Page value per cluster: as the policy learned it, and on the evaluation part."""
    rows = [r for r in report["page_value"] if r["learned"] or r["evaluation"]] \
        or report["page_value"]
    rows = rows[::-1]  # highest at the top
    y = np.arange(len(rows))
    fig = Figure(figsize=(8, 1.2 + 0.28 * len(rows)), layout="constrained")
    ax = fig.subplots()
    ax.barh(y + 0.2, [r["learned"] for r in rows], height=0.4, color="#1f77b4",
            label="learned (learning part)")
    ax.barh(y - 0.2, [r["evaluation"] for r in rows], height=0.4, color="#aec7e8",
            label="evaluation part")
    ax.set_yticks(y, [r["cluster"] for r in rows], fontsize=8)
    ax.set(title="Page value per cluster (revenue credited per unique page view)",
           xlabel="page value ($)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def policy(report: dict, limit: int = 20) -> Figure:
    """Per cluster: Q of the recommended next cluster against Q of the most likely one."""
    rows = report["policy"][:limit][::-1]
    y = np.arange(len(rows))
    fig = Figure(figsize=(9, 1.4 + 0.36 * len(rows)), layout="constrained")
    ax = fig.subplots()
    for offset, key, label, color in ((0.2, "recommended", "recommended (policy)", "#d62728"),
                                      (-0.2, "most_likely", "most likely next (Markov)",
                                       "#7f7f7f")):
        values = [r[f"q_{key}"] or 0.0 for r in rows]
        ax.barh(y + offset, values, height=0.4, color=color, label=label)
        for yi, value, row in zip(y, values, rows):
            ax.text(value, yi + offset, f" {row[key] or '-'}", va="center", fontsize=7)
    ax.set_yticks(y, [r["cluster"] for r in rows], fontsize=8)
    ax.set(title="Learned policy per cluster: Q of the recommended vs the most likely next "
                 "cluster", xlabel="Q-value (discounted page value ahead, $)")
    ax.margins(x=0.25)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    return fig


def impact(report: dict) -> Figure:
    """Every metric against rho: logged, the model, IPS, SNIPS and DR, with intervals;
    and the importance weights' effective sample size."""
    imp = report["impact"]
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    rhos = np.array(imp["rho"])
    step = (rhos[1] - rhos[0]) if len(rhos) > 1 else 0.1
    for ax, metric in zip(axes, METRICS):
        scale = 100.0 if metric in PERCENT else 1.0
        logged = imp["logged"][metric]
        ax.axhspan(_v(logged["low"]) * scale, _v(logged["high"]) * scale, color="#dddddd")
        ax.axhline(_v(logged["estimate"]) * scale, color=COLORS["logged"], linewidth=1,
                   label="logged")
        for k, name in enumerate(ALL_ESTIMATORS):
            rows = imp["estimates"][name][metric]
            est, low, high = (np.array([_v(r[key]) for r in rows]) * scale
                              for key in ("estimate", "low", "high"))
            x = rhos + (k - 1.5) * step * 0.08
            ax.errorbar(x, est, yerr=[est - low, high - est], color=COLORS[name], marker="o",
                        markersize=3, capsize=2, linewidth=1, label=NAMES[name])
        ax.set(title=LABELS[metric] + (" (%)" if metric in PERCENT else ""), xlabel="rho")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    ax.plot(rhos, [w["ess"] * 100 for w in imp["weights"]], marker="o", label="ESS (% of sessions)")
    ax.plot(rhos, [w["mean"] * 100 for w in imp["weights"]], marker="^",
            label="mean session weight (%, 100 expected)")
    ax.plot(rhos, [w["clipped"] * 100 for w in imp["weights"]], marker="s",
            label=f"sessions clipped at {imp['clip']:.0f} (%)")
    ax.set(title="importance weights", xlabel="rho", ylim=(0, 110))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Estimated impact against the probability rho that a visitor follows a "
                 f"recommendation ({100 * imp['level']:.0f}% bootstrap intervals)")
    return fig


def uplift(report: dict) -> Figure:
    """Uplift over the logged behaviour of value per session and conversion, per estimator."""
    imp = report["impact"]
    rhos = np.array(imp["rho"])
    step = (rhos[1] - rhos[0]) if len(rhos) > 1 else 0.1
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("value", "conversion")):
        scale = 100.0 if metric in PERCENT else 1.0
        for k, name in enumerate(ALL_ESTIMATORS):
            rows = [r for r in imp["estimates"][name][metric] if r["rho"] > 0]
            x = np.array([r["rho"] for r in rows]) + (k - 1.5) * step * 0.12
            est, low, high = (np.array([_v(r[key]) for r in rows]) * scale
                              for key in ("uplift", "uplift_low", "uplift_high"))
            ax.errorbar(x, est, yerr=[est - low, high - est], fmt="o", color=COLORS[name],
                        capsize=3, markersize=4, label=NAMES[name])
        ax.axhline(0, color="black", linewidth=1)
        unit = " (points)" if metric in PERCENT else ""
        ax.set(title=f"uplift of {LABELS[metric]}{unit}", xlabel="rho")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _v(x) -> float:
    return np.nan if x is None else x
