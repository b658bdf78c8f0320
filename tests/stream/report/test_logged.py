"""The report's Logged experiment section (stream.report.logged) on synthetic outcomes whose
truth is known, the outcomes reader's repeats and bad records, and the section in the
report, its JSON and its HTML."""

import collections
import io
import json

import numpy as np
import pytest
from kafka.errors import KafkaTimeoutError

from stream.core.outcomes import session_message
from stream.report import from_kafka
from stream.report.logged import (NO_OFFPOLICY, NO_OUTCOMES, NO_TOPICS, choose_control,
                                  headline, is_outcome, logged_experiment, propensities_note)

# One state; the visitor's next page does not depend on what is shown (no reaction), and
# only the move to "a" is followed by revenue (10).
NEXT = {"a": 0.5, "b": 0.3, "c": 0.2}
CANDIDATES = ("a", "b", "c", "d")
REVENUE = {"a": 10.0, "b": 0.0, "c": 0.0}
EPSILON = 0.5  # default explores half its page views; its own ranking shows "b"
EXPECTED = {"a": [0.5, 10.0], "b": [0.3, 0.0], "c": [0.2, 0.0], "d": [0.0, 0.0]}


def default_propensity(cluster: str) -> float:
    """The probability that default (top 1 of 4 candidates, epsilon 0.5) shows ``cluster``."""
    return (1 - EPSILON) * (cluster == "b") + EPSILON / len(CANDIDATES)


# The truth: markov always shows "a"; default shows "b" with 0.625, each other with 0.125.
TRUE_HIT = {"markov": NEXT["a"],
            "default": sum(default_propensity(c) * p for c, p in NEXT.items())}  # 0.275
TRUE_FOLLOWED_VALUE = {"markov": NEXT["a"] * 10.0,
                       "default": default_propensity("a") * NEXT["a"] * 10.0}  # 0.625


def synthetic_outcomes(n_sessions: int, seed: int = 3) -> list[dict]:
    """One page view per session, half the sessions of each variant."""
    rng = np.random.default_rng(seed)
    outcomes = []
    for i in range(n_sessions):
        variant = "default" if i % 2 == 0 else "markov"
        went = rng.choice(list(NEXT), p=list(NEXT.values()))
        if variant == "default":
            shown = ("b" if rng.random() < 1 - EPSILON else rng.choice(CANDIDATES))
            epsilon, propensity = EPSILON, default_propensity(shown)
            counterfactuals = {"markov": [{"cluster": "a", "propensity": 1.0,
                                           "logging_propensity": default_propensity("a")}]}
        else:
            shown, epsilon, propensity, counterfactuals = "a", 0.0, 1.0, {}
        revenue = REVENUE[went]
        outcomes.append({
            "event_id": f"s{i}-1", "session_id": f"s{i}", "sequence": 1, "variant": variant,
            "epsilon": epsilon, "cluster": "home",
            "items": [{"cluster": str(shown), "propensity": propensity}],
            "counterfactuals": counterfactuals, "expected": EXPECTED, "next": str(went),
            "followed": bool(went == shown), "value_reached": 0.0, "revenue_after": revenue,
            "session_revenue": revenue, "opens_session": True, "closed_time": 0})
    return outcomes


def covers(interval: dict, truth: float) -> bool:
    return interval["low"] <= truth <= interval["high"]


def test_the_section_finds_the_known_difference_and_the_off_policy_truth():
    outcomes = synthetic_outcomes(8000)
    section = logged_experiment(outcomes, source="topic outcomes")
    assert section["propensities"] == "logged"
    assert section["control"] == "default" and section["order"] == ["default", "markov"]
    assert section["control_from"] == "the variant named default"
    assert section["outcomes"] == 8000 and section["sessions"] == 8000
    assert section["epsilon"] == {"default": [0.5], "markov": [0.0]}

    default, markov = section["variants"]["default"], section["variants"]["markov"]
    for name, arm in (("default", default), ("markov", markov)):
        assert covers(arm["hit_rate"], TRUE_HIT[name]), (name, arm["hit_rate"])
        assert covers(arm["followed_value"], TRUE_FOLLOWED_VALUE[name])
    # markov shows the likeliest next page: +22.5 points of hit rate, found significant
    diff = markov["vs_control"]["hit_rate"]
    assert covers(diff, TRUE_HIT["markov"] - TRUE_HIT["default"]) and diff["low"] > 0.15
    # visitors do not react, so value per session and conversion do not differ
    assert covers(markov["vs_control"]["value_per_session"], 0.0)
    assert covers(markov["vs_control"]["conversion"], 0.0)
    assert "vs_control" not in default

    # markov off-policy from default's exploration alone: every estimator covers its truth
    est = section["offpolicy"]["markov"]
    assert est["logged_by"] == {"default": 4000} and est["support"] == 1.0
    for reward, truth in (("hit", TRUE_HIT["markov"]), ("value", TRUE_FOLLOWED_VALUE["markov"])):
        for name in ("ips", "snips", "dr"):
            assert covers(est[reward][name], truth), (reward, name, est[reward][name])
    # the weight of a page view is 8 where default showed "a" (1 in 8): ESS about n / 8
    assert est["hit"]["ips"]["n"] == 4000 and 350 < est["hit"]["ess"] < 650
    # DR with the right reward model is tighter than IPS
    assert est["hit"]["dr"]["se"] < est["hit"]["ips"]["se"]
    # the target was served too: its on-policy figure sits beside the estimates
    assert est["served"]["hit_rate"] == markov["hit_rate"]
    assert "default" not in section["offpolicy"]  # markov does not explore: no log of default

    line = headline(section, propensities_note(section, from_topics=True))
    assert line.startswith("logged experiment (logged propensities): 8,000 outcomes")
    assert "markov - default: hit rate +0.2" in line and "markov off-policy hit rate DR" in line


def test_the_control_is_the_option_then_the_experiment_order_then_default_then_the_largest():
    outcomes = synthetic_outcomes(200)
    assert logged_experiment(outcomes, control="markov")["order"] == ["markov", "default"]
    section = logged_experiment(outcomes, experiment_order=("markov", "default"))
    assert section["control"] == "markov"
    assert section["control_from"] == "the experiment file's first served variant"
    assert "vs_control" in section["variants"]["default"]
    with pytest.raises(ValueError, match="--control nosuch: no outcomes of that variant; "
                                         "the outcomes name default, markov"):
        logged_experiment(outcomes, control="nosuch")
    renamed = [o | {"variant": "a" if o["variant"] == "default" else "b"} for o in outcomes]
    renamed.append(renamed[-1] | {"event_id": "extra", "variant": "b"})
    assert choose_control(collections.Counter(o["variant"] for o in renamed)) \
        == ("b", "the variant with most outcomes")


def test_outcomes_without_an_exploring_variant_give_ab_figures_and_stay_estimated():
    greedy = [o for o in synthetic_outcomes(400) if o["variant"] == "markov"]
    section = logged_experiment(greedy)
    assert section["propensities"] == "estimated" and section["offpolicy"] == {}
    assert section["variants"]["markov"]["hit_rate"]["n"] == 200
    assert propensities_note(section, from_topics=True) == NO_OFFPOLICY
    assert logged_experiment([]) is None
    assert propensities_note(None, from_topics=True) == NO_OUTCOMES
    assert NO_OUTCOMES == "no logged propensities (no outcomes topic records): estimated"
    assert propensities_note(None, from_topics=False) == NO_TOPICS
    assert headline(None, NO_OUTCOMES) == f"propensities: {NO_OUTCOMES}"


def test_the_reader_keeps_one_outcome_per_event_id_and_leaves_out_bad_records(monkeypatch):
    outcomes = synthetic_outcomes(6)
    broken = dict(outcomes[0], event_id="broken")
    del broken["counterfactuals"]
    def message(*records):  # the outcomes topic holds one message per ended session
        return json.dumps(session_message(list(records))).encode()
    values = [message(o) for o in outcomes] + [message(*outcomes[:2])]  # at-least-once
    values += [b"not json", message(broken), json.dumps([1]).encode()]
    import consumers.subscriber
    monkeypatch.setattr(consumers.subscriber, "read_topic", lambda topic, config: iter(values))
    read, counts = from_kafka.read_outcomes(type("Config", (), {"outcomes_topic": "o"})())
    assert [o["event_id"] for o in read] == [o["event_id"] for o in outcomes]
    assert counts == {"messages": 10, "records": 11, "repeated": 2, "invalid": 3,
                      "missing": False}

    def missing(topic, config):
        raise LookupError(f"topic {topic!r} does not exist")
        yield  # a generator, as read_topic is
    monkeypatch.setattr(consumers.subscriber, "read_topic", missing)
    assert from_kafka.read_outcomes(type("Config", (), {"outcomes_topic": "o"})()) == (
        [], {"messages": 0, "records": 0, "repeated": 0, "invalid": 0, "missing": True})

    def unreachable(topic, config):  # a broker that does not answer is an error, not "none"
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")
        yield
    monkeypatch.setattr(consumers.subscriber, "read_topic", unreachable)
    with pytest.raises(KafkaTimeoutError):
        from_kafka.read_outcomes(type("Config", (), {"outcomes_topic": "o"})())


@pytest.mark.parametrize("change", [
    {"epsilon": 1.5}, {"followed": "yes"}, {"items": [{"propensity": 1.0}]},
    {"counterfactuals": {"markov": [{"cluster": "a", "logging_propensity": -0.1}]}},
    {"expected": {"a": [0.5]}}, {"session_id": None},
])
def test_a_record_missing_what_the_estimates_read_is_not_an_outcome(change):
    good = synthetic_outcomes(1)[0]
    assert is_outcome(good)
    assert not is_outcome(good | change)


def test_the_report_says_which_propensities_each_section_used(tmp_path):
    from producers.generator import generate
    from stream.config import Settings
    from stream.report.build import ReportOptions, build_report
    from stream.report.impact import ImpactSettings
    from stream.report.render import html_page

    config = Settings.from_env()
    views = list(generate(200, seed=5))
    options = ReportOptions(impact=ImpactSettings(rhos=(0.0, 0.2), resamples=10))
    section = logged_experiment(synthetic_outcomes(400), source="topic t.outcomes")

    def report(**logged):
        return build_report(views, 200, config.learning(), config.clusterer(), options,
                            source="topics", err=io.StringIO(), **logged)

    logged = report(logged_experiment=section, from_topics=True)
    assert logged["propensities"] == "logged" and logged["impact"]["propensities"] == "estimated"
    assert logged["logged_experiment"]["variants"]["markov"]["vs_control"]
    json.dumps(logged)  # report.json
    html = html_page(logged, {name: f"{name}.png" for name in
                              ("accuracy", "page_value", "policy", "impact", "uplift")})
    assert "<b>Propensities</b>: logged propensities in the Logged experiment section" in html
    assert "4. Estimated impact (estimated propensities)" in html
    assert "6. Logged experiment (logged propensities)" in html
    assert "markov - default" in html and "Off-policy estimates with the logged" in html

    empty = report(logged_experiment=None, from_topics=True)
    assert empty["propensities"] == "estimated" and empty["logged_experiment"] is None
    assert empty["propensities_note"] == NO_OUTCOMES
    html = html_page(empty, {name: f"{name}.png" for name in
                             ("accuracy", "page_value", "policy", "impact", "uplift")})
    assert "No logged propensities (no outcomes topic records): estimated" in html
    assert "6. Logged experiment</h2>" in html

    from_file = report()
    assert from_file["propensities"] == "estimated" and from_file["propensities_note"] == NO_TOPICS
