"""``pagepilot evaluate``: the worker's learning code over files, without Kafka."""

import csv
import json
import subprocess
import sys

from producers.generator import generate, write_sample
from stream.clusters import PageClusterer
from stream.config import Settings
from stream.evaluate import evaluate

CONFIG = Settings().learning()


def test_report_shape_and_sane_figures():
    report = evaluate(generate(300, seed=5), CONFIG, PageClusterer.default())
    assert set(report["models"]) == {"river", "markov", "popular"}
    for name, figures in report["models"].items():
        assert figures["events"] > 1000
        assert 0 <= figures["top1"] <= figures["hr3"] <= figures["hr5"] <= 1
        assert figures["top1"] <= figures["mrr"] <= 1
    assert report["models"]["markov"]["hr3"] > report["models"]["popular"]["hr3"]
    assert report["page_value"]["checkout_confirmation"] > report["page_value"].get("home", 0)


def test_the_same_events_give_the_same_figures_from_any_file_format(tmp_path):
    pagepilot, as_csv = tmp_path / "views.jsonl", tmp_path / "views.csv"
    write_sample(pagepilot, 200, seed=6)
    write_sample(as_csv, 200, seed=6, fmt="csv")
    reports = [_cli("evaluate", str(path), "--json") for path in (pagepilot, as_csv)]
    accuracy = [{name: {k: v for k, v in figures.items() if k != "events_per_s"}
                 for name, figures in report["models"].items()} for report in reports]
    assert accuracy[0] == accuracy[1]
    assert reports[0]["page_value"] == reports[1]["page_value"]


def test_a_plain_clickstream_of_page_categories(tmp_path):
    clusterer = PageClusterer.default()
    path = tmp_path / "clicks.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sid", "ts", "category"])
        for view in generate(300, seed=8):
            writer.writerow([view.session_id, view.timestamp // 1000,
                             clusterer.cluster_of(view.page_path, view.page_title)])
        writer.writerow(["broken", "not a time", "home"])
    report = _cli("evaluate", str(path), "--columns",
                  "session_id=sid,timestamp=ts,page_path=category", "--json")
    assert report["rows_rejected"] == 1
    assert report["models"]["markov"]["events"] > 1000
    assert report["models"]["markov"]["hr3"] > report["models"]["popular"]["hr3"]


def _cli(*args) -> dict:
    result = subprocess.run([sys.executable, "-m", "stream.cli", *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
