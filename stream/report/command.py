"""``pagepilot report``: the impact report of the learned recommendations, as HTML + PNG.

Imported whenever the command-line parser is built, so it imports nothing heavy at the
top: the learning code, numpy and matplotlib are loaded when the report runs.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The report's own options (the input arguments are added by stream.cli)."""
    parser.add_argument("-o", "--output", default="pagepilot-report",
                        help="directory for index.html, the PNG figures and report.json "
                             "(default: %(default)s)")
    parser.add_argument("--from-topics", action="store_true",
                        help="read the page views, recommendations and outcomes topics "
                             "of the configured system instead of a file")
    parser.add_argument("--control", metavar="VARIANT",
                        help="with --from-topics: the control variant of the logged "
                             "experiment (default: the experiment file's first served "
                             "variant, else 'default', else the variant with most outcomes)")
    parser.add_argument("--plant", metavar="SOURCE>TARGET[:CONVERSION]",
                        help="generated sessions only: plant a high-value path (visitors "
                             "who go from SOURCE to TARGET buy with probability CONVERSION, "
                             "0.6 by default), e.g. 'home>office'")
    parser.add_argument("--holdout", type=float, default=0.5,
                        help="share of the latest sessions the policy is judged on, never "
                             "learned from (default: %(default)s)")
    parser.add_argument("--rho", type=_floats, default="0,0.1,0.2,0.3,0.4,0.5",
                        help="probabilities that a visitor follows a recommendation "
                             "(default: %(default)s)")
    parser.add_argument("--retain", type=float, default=0.0,
                        help="probability that a visitor about to leave follows one instead "
                             "(default: %(default)s)")
    parser.add_argument("--not-followed", type=_names, metavar="CLUSTERS",
                        help="comma-separated page clusters of a visitor's own order, where "
                             "no recommendation leads (default: sign-in, cart and checkout)")
    parser.add_argument("--resamples", type=int, default=200,
                        help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--clip", type=float,
                        help="clip of cumulative importance weights (default: the square root "
                             "of the evaluation sessions)")


def run(args) -> int:
    """Build and write the report; print where it is and its headline figures."""
    from pathlib import Path

    from stream.config import settings
    from stream.report.build import ReportOptions, build_report
    from stream.report.impact import ImpactSettings
    from stream.report.render import write_report

    started = time.monotonic()
    config = settings()
    options = ReportOptions(holdout=args.holdout, not_followed=args.not_followed,
                            impact=ImpactSettings(rhos=tuple(args.rho), retain=args.retain,
                                                  resamples=args.resamples, clip=args.clip,
                                                  seed=args.seed))
    if args.control and not args.from_topics:
        raise ValueError("--control applies to --from-topics (the logged experiment of the "
                         "system's outcomes topic)")
    views, n_sessions, source, published, counts = _input(args, config)
    logged = _logged_experiment(args, config) if args.from_topics else None
    report = build_report(views, n_sessions, config.learning(),
                          config.clusterer(), options, source=source,
                          session_timeout_s=config.session_timeout_s,
                          total=len(views) if isinstance(views, list) else None,
                          published=published, input_counts=counts,
                          logged_experiment=logged, from_topics=args.from_topics)
    page = write_report(report, Path(args.output))
    print(f"wrote {page} (figures and report.json beside it) in "
          f"{time.monotonic() - started:.1f}s")
    print(_headline(report))
    from stream.report.logged import headline
    print(headline(report["logged_experiment"], report["propensities_note"]))
    return 0


def _logged_experiment(args, config) -> dict | None:
    """The Logged experiment section from the outcomes topic; None when it has no records."""
    from stream.report.from_kafka import read_outcomes
    from stream.report.logged import logged_experiment

    outcomes, counts = read_outcomes(config)
    if not outcomes:
        if counts["records"]:
            print(f"pagepilot report: none of the {counts['records']:,} records of topic "
                  f"{config.outcomes_topic} is an outcome; they are left out", file=sys.stderr)
        return None
    order = () if args.control or not config.experiment else tuple(
        variant.name for variant in config.experiments().served)
    return logged_experiment(outcomes, args.control, order, counts=counts,
                             source=f"topic {config.outcomes_topic} on {config.bootstrap}")


def _input(args, config):
    """Page views, session count, a description, published recommendations, counts."""
    if args.from_topics:
        if args.file or args.plant:
            raise ValueError("--from-topics reads the system's topics: give no FILE or --plant")
        from stream.report.from_kafka import read_page_views, read_recommendations
        views, counts = read_page_views(config)
        source = (f"topics {config.pageviews_topic} and {config.recommendations_topic} "
                  f"on {config.bootstrap}")
        return (views, len({v.session_id for v in views}), source, read_recommendations(config),
                counts)
    if args.plant:
        if args.file:
            raise ValueError("--plant applies to generated sessions: give no FILE")
        from producers.generator import PlantedPath, generate
        plant = PlantedPath.parse(args.plant)
        source = (f"{args.sessions:,} generated sessions (seed {args.seed}) with a planted path "
                  f"{plant.source} > {plant.target} converting {plant.conversion:.0%}")
        return generate(args.sessions, seed=args.seed, plant=plant), args.sessions, source, None, {}
    from producers.replay import ReplayStats, read_input
    stats = ReplayStats()
    views, total = read_input(args.file, args.format, args.columns, args.sessions, args.seed,
                              stats)
    if total is None:
        return views, args.sessions, f"{args.sessions:,} generated sessions (seed {args.seed})", \
            None, {}
    return (views, len({v.session_id for v in views}), f"file {args.file}", None,
            {"rows_rejected": stats.rejected})


def _headline(report: dict) -> str:
    impact = report["impact"]
    logged = impact["logged"]["value"]["estimate"]
    rows = {name: table["value"][-1] for name, table in impact["estimates"].items()}
    rho = rows["model"]["rho"]
    figures = ", ".join(f"{name} {row['uplift']:+.2f} [{row['uplift_low']:+.2f}, "
                        f"{row['uplift_high']:+.2f}]" for name, row in rows.items())
    return (f"estimated impact (estimated propensities): value per session: logged "
            f"${logged:.2f}; uplift at rho={rho:g} "
            f"({100 * impact['level']:.0f}% interval): {figures}")


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())

