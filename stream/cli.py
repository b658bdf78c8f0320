"""The ``pagepilot`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from kafka.errors import KafkaError

from producers.generator import SAMPLE_FORMATS
from producers.loaders import FORMATS
from stream.tools.cluster_suggest import DEFAULT_LIMIT


def main(argv: list[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    if extra and args.command != "worker":
        _parser().error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command != "worker":  # the worker's signals are Faust's
        _stop_cleanly_on_signals()
    try:
        return args.run(args, extra) or 0
    except (ValueError, LookupError, FileNotFoundError, RuntimeError, TimeoutError) as exc:
        print(f"pagepilot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        from stream.config import settings
        print(f"pagepilot {args.command}: error: Kafka: {exc!r}; is the broker at "
              f"{settings().bootstrap} running? (`pagepilot kafka status`)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pagepilot {args.command}: interrupted", file=sys.stderr)
        return 130


def _stop_cleanly_on_signals() -> None:
    """SIGTERM, and SIGINT even in a process started in the background (where the shell
    ignores it), end a command as Ctrl-C does: its summary printed, what it started stopped."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pagepilot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = commands.add_parser("kafka", help="the embedded Kafka broker")
    kafka.add_argument("action", choices=["up", "down", "status", "reset", "fetch"])
    kafka.set_defaults(run=_kafka)

    worker = commands.add_parser(
        "worker", help="run a Faust worker (extra options go to `faust worker`)")
    worker.add_argument("--app", default="stream.worker.app", help=argparse.SUPPRESS)
    worker.set_defaults(run=_worker)

    generate = commands.add_parser("generate", help="write a GStore-like sample file")
    generate.add_argument("-o", "--output", required=True)
    generate.add_argument("-n", "--sessions", type=int, default=2000)
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--format", default="pagepilot", choices=SAMPLE_FORMATS)
    generate.set_defaults(run=_generate)

    replay = commands.add_parser("replay", help="replay page views into Kafka")
    _add_input_arguments(replay)
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="times faster than the original timestamps")
    pace.add_argument("--max-rate", type=float, help="at most N events per second")
    pace.add_argument("--as-fast-as-possible", action="store_true", help="no pacing (default)")
    replay.add_argument("--limit", type=int, help="send at most N events")
    replay.add_argument("--resume", action="store_true",
                        help="skip what an earlier replay of the same input to the same topic "
                             "had delivered (it was killed or interrupted)")
    replay.set_defaults(run=_replay)

    evaluate = commands.add_parser(
        "evaluate", help="prequential accuracy of the learning code over a file, no Kafka")
    _add_input_arguments(evaluate)
    evaluate.add_argument("--model", help="River model (default: PAGEPILOT_MODEL)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--experiment", metavar="FILE",
                          help="serve each session under its variant of FILE (TOML, "
                               "docs/experiments.md) and report the experiment's figures")
    evaluate.set_defaults(run=_evaluate)

    recs = commands.add_parser("recommendations", help="print recommendations from the topic")
    recs.add_argument("--follow", "-f", action="store_true", help="wait for new ones")
    recs.add_argument("--session", help="only this session id")
    recs.add_argument("--json", action="store_true", help="one JSON object per line")
    recs.set_defaults(run=_recommendations)

    watch = commands.add_parser("watch", help="live figures of the workers in the terminal")
    watch.add_argument("--url", help="a worker's web server (default: "
                                     "http://PAGEPILOT_WEB_HOST:PAGEPILOT_WEB_PORT)")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch.add_argument("--once", action="store_true", help="print one frame and exit")
    watch.set_defaults(run=_watch)

    demo = commands.add_parser("demo", help="broker, worker and replay of the bundled sample")
    demo.add_argument("--sessions", type=int, default=600)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--max-rate", type=float, default=300.0,
                      help="replay rate in events/s (0: as fast as possible)")
    demo.add_argument("--stay", action="store_true",
                      help="keep the worker and its dashboard running until Ctrl-C")
    demo.add_argument("--experiment", nargs="?", const="bundled", metavar="FILE",
                      help="run an A/B/shadow experiment: the variants of FILE (TOML, "
                           "docs/experiments.md), or without FILE the bundled one")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser(
        "bench", help="measure the worker against bare Faust pass-throughs")
    bench.add_argument("--events", type=int, default=20000,
                       help="backlog drained to measure throughput")
    bench.add_argument("--rate", type=float, nargs="+", default=[100.0, 1000.0],
                       help="paced rates of the latency phases (events/s; default 100 1000)")
    bench.add_argument("--json", action="store_true",
                       help="print one JSON object (progress goes to stderr; not with --soak)")
    bench.add_argument("--soak", action="store_true",
                       help="instead: a long run of one worker, its memory and state over time")
    bench.add_argument("--sessions", type=int, default=1_000_000,
                       help="generated sessions of the soak (default 1,000,000)")
    bench.add_argument("--every", type=float, default=60.0,
                       help="seconds of wall time between the soak's rows")
    bench.add_argument("--sessions-per-hour", type=float,
                       help="session starts per hour of event time (default: the generator's, "
                            "the GA sample's 70)")
    bench.add_argument("--seed", type=int, default=7)
    bench.set_defaults(run=_bench)

    clusters = commands.add_parser("clusters", help="page-cluster rules for your site")
    cluster_actions = clusters.add_subparsers(dest="action", required=True, metavar="ACTION")
    suggest = cluster_actions.add_parser(
        "suggest", help="write a rules file to edit from an export of page views")
    suggest.add_argument("file", help="input file (same formats as replay)")
    _add_format_arguments(suggest)
    suggest.add_argument("--max", type=int, default=DEFAULT_LIMIT,
                         help=f"clusters at most, by page views (default {DEFAULT_LIMIT})")
    suggest.add_argument("--per-page", action="store_true",
                         help="one cluster per page instead (item-level data)")
    suggest.add_argument("-o", "--output", help="rules file to write (default: stdout)")
    suggest.set_defaults(run=_clusters_suggest)

    report = commands.add_parser(
        "report", help="impact report: what the recommendations would do (HTML + PNG)")
    _add_input_arguments(report)
    from stream.report.command import add_arguments as add_report_arguments
    add_report_arguments(report)
    report.set_defaults(run=_report)
    return parser


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="input file (default: generated sessions)")
    _add_format_arguments(parser)
    parser.add_argument("--sessions", type=int, default=2000,
                        help="sessions to generate when no file is given")
    parser.add_argument("--seed", type=int, default=7)


def _add_format_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    parser.add_argument("--columns",
                        help="CSV column mapping, e.g. session_id=sid,timestamp=ts,page_path=url")


def _read_input(args, stats):
    from producers.replay import read_input
    return read_input(args.file, args.format, args.columns, args.sessions, args.seed, stats)


def _kafka(args, _extra) -> int:
    from stream.kafka.command import kafka_command
    return kafka_command(args.action)


def _worker(args, extra) -> int:
    from stream.config import settings
    from stream.kafka import admin, credentials

    config = settings()
    credentials.wait_until_answers(config.bootstrap, timeout_s=15)
    admin.ensure_topics(config, config.topic_partitions())
    app = __import__(args.app, fromlist=["app"]).app
    Path(app.conf.datadir).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    if not any(arg in ("-l", "--loglevel") or arg.startswith("--loglevel=") for arg in extra):
        extra = ["--loglevel", "info", *extra]
    sys.argv = ["pagepilot worker", "worker", *extra]
    app.main()
    return 0


def _generate(args, _extra) -> int:
    from producers.generator import write_sample
    count = write_sample(args.output, args.sessions, args.seed, fmt=args.format)
    print(f"wrote {count:,} events of {args.sessions:,} sessions to {args.output}")
    return 0


def _replay(args, _extra) -> int:
    from producers.replay import Pacing, ReplayCheckpoint, ReplayStats, make_producer, replay
    from stream.config import settings

    config = settings()
    stats = ReplayStats()
    events, total = _read_input(args, stats)
    checkpoint = ReplayCheckpoint.for_input(config, _input_id(args), config.pageviews_topic,
                                            resume=args.resume)
    producer = make_producer(config)
    try:
        replay(events, producer, config.pageviews_topic, limit=args.limit, stats=stats,
               pacing=Pacing(speed=args.speed, max_rate=args.max_rate), total=total,
               checkpoint=checkpoint)
    finally:
        producer.close()
    print(stats.summary())
    return 130 if stats.interrupted else (1 if stats.failed else 0)


def _input_id(args) -> str:
    """What identifies a replay's input, for resuming it: the file as it is, or the generator."""
    if not args.file:
        return f"generated sessions={args.sessions} seed={args.seed}"
    stat = Path(args.file).stat()
    return (f"{Path(args.file).resolve()} size={stat.st_size} mtime={stat.st_mtime_ns} "
            f"format={args.format} columns={args.columns}")


def _evaluate(args, _extra) -> int:
    import dataclasses

    from producers.replay import ReplayStats
    from stream.config import settings
    from stream.core.evaluate import evaluate
    from stream.core.experiments import Experiment

    config = settings()
    learning = config.learning()
    if args.model:
        learning = dataclasses.replace(learning, model=args.model)
    experiment = Experiment.from_toml(args.experiment) if args.experiment else None
    stats = ReplayStats()
    views, _count = _read_input(args, stats)
    report = evaluate(views, learning, config.clusterer(),
                      config.session_timeout_s, experiment=experiment)
    report["rows_rejected"] = stats.rejected
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['events']:,} page views, {report['events_per_s']:,} events/s, "
          f"{stats.rejected:,} rows rejected")
    print(f"{'model':<10}{'events':>10}{'top1':>8}{'hr3':>8}{'hr5':>8}{'mrr':>8}{'learn/s':>10}")
    for name, m in report["models"].items():
        print(f"{name:<10}{m['events']:>10,}{m['top1']:>8.3f}{m['hr3']:>8.3f}{m['hr5']:>8.3f}"
              f"{m['mrr']:>8.3f}{m['events_per_s'] or 0:>10,}")
    recommended = report["recommended"]
    print(f"the policy recommends {recommended['distinct_clusters']:,} distinct clusters in "
          f"{recommended['distinct_lists']:,} distinct lists (per cluster: --json)")
    if experiment is not None:
        from consumers.watch import experiment_lines
        print(f"experiment {args.experiment}, over the outcomes of every session:")
        for line in experiment_lines({"control": experiment.served[0].name,
                                      "total": report["experiment"]}):
            print(f"  {line}")
    return 0


def _clusters_suggest(args, _extra) -> int:
    import collections

    from producers.loaders import BadRow, LoadStats, iter_rows, parse_column_map
    from stream.config import settings
    from stream.tools.cluster_suggest import suggest_rules

    stats = LoadStats()
    columns = parse_column_map(args.columns) if args.columns else None
    views = collections.Counter(row.page_path for row in iter_rows(
        args.file, args.format, columns, stats=stats) if not isinstance(row, BadRow))
    text, summary = suggest_rules(views, args.max, per_page=args.per_page,
                                  max_clusters=settings().max_clusters, source=args.file)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    rejected = f", {stats.bad_rows:,} rows rejected" if stats.bad_rows else ""
    print(summary.line(args.output or "stdout") + rejected,
          file=sys.stderr if not args.output else sys.stdout)
    return 0


def _recommendations(args, _extra) -> int:
    from consumers.subscriber import subscribe
    for rec in subscribe(follow=args.follow, session_id=args.session):
        if args.json:
            print(json.dumps(rec.asdict(), default=lambda item: item.asdict()), flush=True)
        else:
            print(_describe(rec), flush=True)
    return 0


def _describe(rec) -> str:
    if rec.cold:
        choice = "no recommendation yet (cold start)"
    else:
        choice = ", ".join(f"{item.cluster} ({item.score:.2f})" for item in rec.items)
    return f"{rec.session_id} {rec.event_id} on {rec.cluster} -> {choice} [{rec.policy} v{rec.policy_version}]"


def _watch(args, _extra) -> int:
    import urllib.error

    from consumers.watch import watch
    from stream.config import settings

    config = settings()
    host = "127.0.0.1" if config.web_host in ("0.0.0.0", "::") else config.web_host
    url = args.url or f"http://{host}:{config.web_port}"
    try:
        return watch(url, interval_s=args.interval, once=args.once)
    except urllib.error.URLError as exc:
        raise RuntimeError(f"no worker answers at {url} ({exc.reason}); start one with "
                           "`pagepilot worker` or pass --url") from None


def _demo(args, _extra) -> int:
    from stream.tools.demo import run_demo
    return run_demo(sessions=args.sessions, seed=args.seed, max_rate=args.max_rate or None,
                    stay=args.stay, experiment=args.experiment)


def _bench(args, _extra) -> int:
    if args.soak and args.json:
        raise ValueError("--json is not available with --soak")
    if args.soak:
        from producers.generator import SESSIONS_PER_HOUR
        from stream.tools.soak import run_soak
        return run_soak(sessions=args.sessions, every_s=args.every, seed=args.seed,
                        sessions_per_hour=args.sessions_per_hour or SESSIONS_PER_HOUR)
    from stream.tools.bench import run_bench
    return run_bench(events=args.events, rates=args.rate, as_json=args.json)


def _report(args, _extra) -> int:
    from stream.report.command import run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
