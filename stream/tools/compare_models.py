"""Compare the River next-page models prequentially on generated sessions; print a table.

Each model of ``stream.core.learning.nextpage.MODELS`` runs through
``stream.core.evaluate.evaluate`` (the worker's learning code, no Kafka) on the same seeded
sessions; the Markov and popularity baselines, identical in every run, are taken from the
first. Speed is learning throughput: steps learned per second spent ranking and learning in
the model::

    .venv/bin/python -m stream.tools.compare_models --sessions 50000 > table.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from producers.generator import generate
from stream.config import settings
from stream.core.evaluate import evaluate
from stream.core.learning.nextpage import MODELS

BASELINES = ("markov", "popular")


def compare(models: list[str], sessions: int, seed: int = 7) -> dict[str, dict]:
    """Prequential figures of each River model, then of the baselines, by name."""
    config = settings()
    clusterer = config.clusterer()
    rows: dict[str, dict] = {}
    baselines: dict[str, dict] = {}
    for name in models:
        learning = dataclasses.replace(config.learning(), model=name)
        report = evaluate(generate(sessions, seed=seed), learning, clusterer,
                          config.session_timeout_s)
        rows[name] = report["models"]["river"]
        for baseline in BASELINES:
            baselines.setdefault(baseline, report["models"][baseline])
        print(f"{name}: done in {report['seconds']:.0f} s", file=sys.stderr, flush=True)
    return rows | baselines


def markdown(rows: dict[str, dict]) -> str:
    """The figures as a markdown table, one row per model, in the order given."""
    lines = ["| model | top1 | hr3 | hr5 | mrr | learn/s |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        speed = f"{m['events_per_s']:,}" if m["events_per_s"] else "-"
        lines.append(f"| {name} | {m['top1']:.4f} | {m['hr3']:.4f} | {m['hr5']:.4f} "
                     f"| {m['mrr']:.4f} | {speed} |")
    events = next(iter(rows.values()))["events"] if rows else 0
    return "\n".join(lines) + f"\n\n{events:,} scored transitions each."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, of {', '.join(MODELS)}")
    args = parser.parse_args(argv)
    models = [name for name in args.models.split(",") if name]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {sorted(MODELS)}")
    print(markdown(compare(models, args.sessions, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
