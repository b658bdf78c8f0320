"""``pagepilot report`` as a user runs it: generated or file input, bad rows, bad options."""

import json
import subprocess
import sys

import pytest

from producers.generator import write_sample
from stream.cli import main


def test_a_report_of_generated_sessions_with_a_planted_path(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["report", "--sessions", "600", "--plant", "home>office", "--rho", "0,0.25",
                 "--resamples", "20", "-o", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"wrote {out / 'index.html'}" in printed.out and "uplift at rho=0.25" in printed.out
    assert "report: learning" in printed.err  # progress on stderr
    report = json.loads((out / "report.json").read_text())
    assert report["impact"]["rho"] == [0.0, 0.25] and report["impact"]["resamples"] == 20
    assert "planted path home > office" in report["input"]["source"]
    assert sorted(p.name for p in out.glob("*.png")) == [
        "accuracy.png", "impact.png", "page_value.png", "policy.png", "uplift.png"]


def test_bad_rows_of_a_file_are_reported_with_their_line_numbers(tmp_path):
    sample = tmp_path / "clicks.csv"
    write_sample(sample, 300, seed=5, fmt="csv")
    lines = sample.read_text().splitlines()
    lines.insert(3, "this,row,is,broken")
    sample.write_text("\n".join(lines) + "\n")
    result = subprocess.run(  # a process of its own: its standard error is the real one
        [sys.executable, "-m", "stream.cli", "report", str(sample), "--resamples", "10",
         "--rho", "0,0.2", "-o", str(tmp_path / "out")], capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{sample}:4: rejected:" in result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["rows_rejected"] == 1 and report["input"]["sessions"] == 300


@pytest.mark.parametrize("arguments, message", [
    (["FILE", "--plant", "home>office"], "--plant applies to generated sessions"),
    (["--not-followed", "cart,nosuch"], "unknown page cluster(s) nosuch"),
    (["--holdout", "1.5"], "the held-out share of sessions must be in (0, 1)"),
    (["--rho", "0,0.2,1"], "rho must be in [0, 1)"),
    (["--plant", "home>cart"], "a planted path must join two browsing clusters"),
    (["--control", "markov"], "--control applies to --from-topics"),
])
def test_bad_options_are_errors_that_say_what_is_wrong(tmp_path, capsys, arguments, message):
    sample = tmp_path / "views.jsonl"
    write_sample(sample, 20, seed=1)
    arguments = [str(sample) if a == "FILE" else a for a in arguments]
    code = main(["report", "--sessions", "50", "--resamples", "10", "-o", str(tmp_path / "r"),
                 *arguments])
    assert code == 2
    assert f"pagepilot report: error: {message}" in capsys.readouterr().err
