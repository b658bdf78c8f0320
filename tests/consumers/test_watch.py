"""The terminal view renders the merged figures; visitor text is shown, never interpreted."""

import re

from rich.console import Console

from consumers.watch import experiment_lines, render
from stream.worker.metrics import WorkerMetrics, merge
from tests.experiment_records import outcome, served


def test_frame_shows_flow_accuracy_lag_clusters_and_recent_recommendations():
    metrics = WorkerMetrics("w1")
    for n in range(3):
        metrics.received()
        metrics.recommended({"session_id": "[red]evil[/red]", "event_id": f"e{n}",
                             "sequence": n + 1, "variant": "default", "explored": False,
                             "cluster": "home", "cold": False, "fallback": None,
                             "items": [{"cluster": "cart", "score": 1.0, "probability": 0.25,
                                        "q": 3.0, "page_value": 1.0}],
                             "ingest_time": 1000, "publish_time": 1042})
    merged = merge([metrics.snapshot({"lag": {"pageviews": {"0": 12, "1": 0}}})])
    merged["values"] = {"mean_q": 12.5, "mean_page_value": 3.25, "clusters_visited": 2}
    network = {"nodes": [{"cluster": "home", "visitors": 3, "page_value": 1.0, "value": 2.0,
                          "exit_rate": 0.1, "recommended": "cart"}], "edges": []}
    console = Console(record=True, width=140)
    console.print(render(merged, network))
    text = console.export_text()
    assert "1 worker(s)" in text
    assert "page views in" in text and "recommendations out" in text
    assert "40 / 49 / 50" in text  # three 42 ms answers, interpolated in the 30-50 ms bucket
    assert "12.5 / 3.25" in text
    assert "river" in text and "markov" in text and "popular" in text
    assert "│ pageviews │ 12 │  0 │" in text
    assert "[red]evil[/red]" in text  # markup in visitor data is printed as it is
    assert "cart (0.25)" in text




def _ab_test() -> dict:
    """gain (the control) explores half its page views, logging relevance's list; 60 of its
    100 page views followed, relevance's 40 of 100; markov served once, no session ended."""
    metrics = WorkerMetrics("w1", clock=lambda: 1000.0, control="gain")
    logged = {"relevance": [{"cluster": "bags", "logging_propensity": 0.5}]}
    for variant, followed_of_100, epsilon in (("gain", 60, 0.5), ("relevance", 40, 0.0)):
        session = []
        for n in range(100):  # 20 sessions of 5 page views; 2 of gain's sessions buy for 50
            served(metrics, variant, f"{variant}-{n // 5}", n % 5 + 1)
            session.append(outcome(variant, n < followed_of_100, n % 5 == 0,
                                    50.0 if variant == "gain" and n < 10 else 0.0,
                                    epsilon, logged if epsilon else None))
            if len(session) == 5:
                metrics.session_ended(session)
                session = []
    served(metrics, "markov", "m", 1)  # its session has not ended: no outcome
    return merge([metrics.snapshot()], now=1000.0)


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_experiment_lines_compare_the_variants_to_the_control_and_show_offpolicy():
    merged = _ab_test()
    lines = experiment_lines(merged["experiment"], merged["variants"])
    assert [_cells(line) for line in lines[:6]] == [
        ["variant", "sessions", "outcomes", "served HR@k", "value / session", "conversion"],
        # 60 of 100 followed, the first 12 sessions all 5 times, the others never: the
        # interval is the sessions' (0.6 +- 1.96 sqrt(0.24 / 20 * 20 / 19)), not the page
        # views'; 2 of 20 sessions bought for 50: 5 +- 1.96 sqrt(225 / 19) a session
        ["gain (control)", "20", "100", "0.600 [0.380, 0.820]", "5.00 [-1.74, 11.74]",
         "0.100 [0.000, 0.249]"],
        ["markov", "1", "0", "-", "-", "-"],  # served, nothing known yet
        ["Δ to gain", "-", "-", "-"],
        # no conversion among 20 sessions: a share's error is at least a binomial's with
        # two successes and two failures added
        ["relevance", "20", "100", "0.400 [0.180, 0.620]", "0.00 [0.00, 0.00]",
         "0.000 [0.000, 0.111]"],
        # the arms' pooled variance (equal sizes: as Welch's)
        ["Δ to gain", "-0.200 [-0.512, +0.112]", "-5.00 [-11.74, +1.74]",
         "-0.100 [-0.286, +0.086]"]]
    assert len({line.index("]") for line in lines[1:6:4]}) == 1  # the columns are aligned
    assert [_cells(line) for line in lines[6:8]] == [
        ["off-policy hit rate", "support", "logged", "IPS", "SNIPS", "DR", "ESS"],
        # gain's 100 logged views: bags shown with p = 0.5, followed 60 times, weight 2 each:
        # IPS 60 rewards of 1 / 0.5; SNIPS 120 / 200; DR = IPS (no reward model); ESS 200^2 / 400
        ["relevance", "100%", "100", "1.200 [0.759, 1.641]", "0.600 [0.380, 0.820]",
         "1.200 [0.759, 1.641]", "100"]]
    assert "* where its interval excludes 0" in lines[-1]


def test_experiment_lines_without_counters_count_the_sessions_with_anoutcome():
    """As ``pagepilot evaluate --experiment`` calls it: every session ended."""
    experiment = _ab_test()["experiment"]
    lines = experiment_lines({"control": "gain", "total": experiment["total"]})
    assert [_cells(line)[:3] for line in lines[1:3]] == [["gain (control)", "20", "100"],
                                                       ["relevance", "20", "100"]]
    assert _cells(lines[3])[1] == "-0.200 [-0.512, +0.112]"


def test_experiment_lines_of_the_default_policy_alone_show_its_figures():
    metrics = WorkerMetrics("w1", clock=lambda: 1000.0, control="default")
    for n in range(4):
        served(metrics, "default", "s", n + 1)
    metrics.session_ended([outcome("default", n != 1, opens=n == 0) for n in range(4)])
    merged = merge([metrics.snapshot()], now=1000.0)
    lines = experiment_lines(merged["experiment"], merged["variants"])
    # 3 of 4 followed; one session: its mean, no interval yet
    assert _cells(lines[1]) == ["default", "1", "4", "0.750 [-, -]", "0.00 [-, -]",
                                "0.000 [-, -]"]
    assert "Δ" not in "\n".join(lines) and "(control)" not in lines[1]
    assert lines[2].startswith("off-policy: no targets")


def test_the_watch_frame_shows_the_experiment_block():
    merged = _ab_test()
    console = Console(record=True, width=160)
    console.print(render(merged, {"nodes": [], "edges": []}))
    text = console.export_text()
    assert "Experiment, total (control gain)" in text
    for line in experiment_lines(merged["experiment"], merged["variants"]):
        assert line in text
