"""`pagepilot clusters suggest`: templates, the choice of rules, the file and the command."""

from __future__ import annotations

import collections
import tomllib

import pytest

from stream import cli
from stream.core.clusters import OTHER, PageClusterer
from stream.tools.cluster_suggest import WILDCARD, collapsed, suggest_rules

T0 = 1_501_591_568


@pytest.mark.parametrize("path, segments", [
    ("/p/12345", ("p", WILDCARD)),
    ("/p/12345.html", ("p", WILDCARD)),
    ("/u/0f8fad5b-d9cb-469f-a165-70867728950e/edit", ("u", WILDCARD, "edit")),
    ("/img/9f86d081884c", ("img", WILDCARD)),
    ("/shop/ggoegxxx1234", ("shop", WILDCARD)),
    ("/blog/how-we-moved-to-kafka-in-2019", ("blog", WILDCARD)),
    ("/news/1995-07-01/launch", ("news", WILDCARD, "launch")),
    ("/shuttle/missions/sts-71/mission-sts-71.html",
     ("shuttle", "missions", "sts-71", "mission-sts-71.html")),
    ("/History/Apollo/?x=1", ("history", "apollo")),
    ("/", ("",)),
])
def test_ids_and_slugs_collapse_and_words_stay(path, segments):
    assert collapsed(path) == segments


def _views(**counts: int) -> collections.Counter:
    """Page views by path, written as keyword arguments: ``c__news=3`` is /c/news."""
    return collections.Counter({"/" + name.replace("__", "/"): n for name, n in counts.items()})


def _clusterer(tmp_path, text: str, **options) -> PageClusterer:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return PageClusterer.from_file(path, **options)


def test_a_catalogue_becomes_templates_busiest_first_and_loads(tmp_path):
    views = collections.Counter({f"/p/{n}": 3 for n in range(100)})  # 300 item views
    views.update({"/c/shoes": 90, "/c/shoes/red": 40, "/c/hats": 50, "/": 60, "/about": 5,
                  "/faq": 1})
    text, summary = suggest_rules(views, limit=5)
    clusterer = _clusterer(tmp_path, text)
    assert summary.rules == len(clusterer.rules) == 5
    assert clusterer.cluster_of("/p/77") == clusterer.cluster_of("/p/123?ref=x") == "p"
    assert [clusterer.cluster_of(path) for path in ("/c/shoes/red", "/c/shoes", "/c/hats")] \
        == ["c_shoes_red", "c_shoes", "c_hats"]  # the busier sub-folder before its parent
    assert clusterer.cluster_of("/") == "home"
    assert clusterer.cluster_of("/about") == clusterer.cluster_of("/faq") == OTHER
    assert summary.covered == pytest.approx(1 - 6 / sum(views.values()))
    assert summary.line("rules.toml").startswith(
        "wrote 5 rules to rules.toml: named clusters cover 98.9% of 546 page views")


def test_specific_rules_come_before_the_prefix_that_keeps_the_rest(tmp_path):
    views = _views(c__news=50, c__sport=40, c__misc=3, c__weather=2, home=1)
    text, _ = suggest_rules(views, limit=3)
    clusterer = _clusterer(tmp_path, text)
    assert [rule.cluster for rule in clusterer.rules] == ["c_news", "c_sport", "c"]
    assert clusterer.cluster_of("/c/misc") == "c" and clusterer.cluster_of("/home") == OTHER


def test_a_prefix_with_nothing_of_its_own_is_left_out(tmp_path):
    views = _views(c__news=5, c__sport=4, c__misc=3)
    text, summary = suggest_rules(views, limit=20)
    assert [rule.cluster for rule in _clusterer(tmp_path, text).rules] == [
        "c_news", "c_sport", "c_misc"]
    assert summary.covered == 1.0 and not summary.collapsed


def test_each_rule_has_a_comment_with_its_page_views_and_examples():
    views = _views(a__x=6, a__y=3, b=1)
    text, _ = suggest_rules(views, limit=2, source="export.csv")
    assert text.startswith("# Page-cluster rules suggested by `pagepilot clusters suggest` "
                           "from export.csv:\n# 10 page views of 3 distinct pages; 2 rules")
    assert "# 6 page views (60.0%), e.g. /a/x\n[[rule]]\ncluster = \"a_x\"\n" in text
    assert "# 3 page views (30.0%), e.g. /a/y\n[[rule]]\ncluster = \"a\"\n" in text


def test_names_are_unique_and_never_other_and_odd_paths_stay_valid_toml(tmp_path):
    views = _views(other=5, a_b=4)
    views.update({"/a-b": 3, "/it's+(new)": 2, "/tab\there": 1})
    text, _ = suggest_rules(views, limit=10)
    tomllib.loads(text)
    clusterer = _clusterer(tmp_path, text)
    names = [rule.cluster for rule in clusterer.rules]
    assert len(set(names)) == len(names) == 5 and OTHER not in names
    assert {clusterer.cluster_of(path) for path in views} == set(names)


def test_per_page_writes_one_rule_within_the_bound(tmp_path):
    views = collections.Counter({f"/p/{n}": 10 - n for n in range(10)})
    text, summary = suggest_rules(views, per_page=True, max_clusters=6)
    clusterer = _clusterer(tmp_path, text, max_clusters=6)
    assert [rule.per_page for rule in clusterer.rules] == [True]
    assert [clusterer.cluster_of(path) for path in views] == [
        "/p/0", "/p/1", "/p/2", "/p/3", "/p/4", *[OTHER] * 5]  # the first five to appear
    assert summary.covered == pytest.approx((10 + 9 + 8 + 7 + 6) / 55)
    assert "for the first 5 pages to appear (PAGEPILOT_MAX_CLUSTERS=6)" in text


def test_items_under_one_template_suggest_per_page():
    _, summary = suggest_rules(collections.Counter({f"/p/{n}": 1 for n in range(50)}))
    assert summary.rules == 1 and summary.collapsed
    assert "--per-page gives each page its own cluster" in summary.line("x.toml")


@pytest.mark.parametrize("options, message", [
    ({"limit": 0}, "--max must be at least 1, got 0"),
    ({"limit": 30, "max_clusters": 10}, "max_clusters=10 is fewer than the"),
])
def test_bad_limits_say_what_is_wrong(options, message):
    views = collections.Counter({f"/{n}/x": 1 for n in "abcdefghijklmnopqrstuvwxyz"})
    with pytest.raises(ValueError, match=message):
        suggest_rules(views, **options)


def _export(tmp_path, header: str = "session_id,timestamp,url"):
    path = tmp_path / "export.csv"
    rows = [f"s{n % 7},{T0 + n},/c/{('news', 'sport', 'misc')[n % 3]}/{n}" for n in range(60)]
    path.write_text("\n".join([header, *rows, "s1,yesterday,/c/news/1"]) + "\n")
    return path


def test_the_command_writes_a_file_that_loads(tmp_path, capsys):
    rules = tmp_path / "rules.toml"
    assert cli.main(["clusters", "suggest", str(_export(tmp_path)), "--max", "2",
                     "-o", str(rules)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote 2 rules to {rules}: named clusters cover ")
    assert out.rstrip().endswith("1 rows rejected")
    assert len(PageClusterer.from_file(rules).rules) == 2


def test_the_command_prints_the_rules_without_output_and_takes_columns(tmp_path, capsys):
    path = _export(tmp_path, header="sid,ts,where")
    assert cli.main(["clusters", "suggest", str(path), "--columns",
                     "session_id=sid,timestamp=ts,page_path=where"]) == 0
    captured = capsys.readouterr()
    assert len(tomllib.loads(captured.out)["rule"]) == 3
    assert captured.err.startswith("wrote 3 rules to stdout")


def test_the_command_reports_a_bad_input_in_one_line(tmp_path, capsys):
    path = _export(tmp_path, header="session_id,timestamp,where")
    assert cli.main(["clusters", "suggest", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pagepilot clusters: error: ") and "or name it page_path" in err
