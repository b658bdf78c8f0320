"""An A/B/shadow experiment through the real broker: arms that differ are told apart, arms
that do not are not, and a variant estimated off-policy from the exploring arm's logged
propensities agrees with what it achieved in its own arm."""

import json
import math
import urllib.request

import pytest

from consumers.tally import Tally
from producers.generator import PlantedPath, generate
from stream.core import estimates
from stream.kafka import admin
from stream.report.from_kafka import read_outcomes
from stream.tools.processes import WorkerProcess, wait_until_idle

from tests.conftest import isolated_settings
from tests.integration.test_learning import send

pytestmark = pytest.mark.integration

EXPERIMENT = """
[[variant]]
name = "explore"
share = 0.4
epsilon = 0.3
[[variant]]
name = "markov"
policy = "markov"
share = 0.2
[[variant]]
name = "markov-too"
policy = "markov"
share = 0.2
[[variant]]
name = "popular"
policy = "popular"
share = 0.2
[[variant]]
name = "markov-shadow"
policy = "markov"
shadow = true
"""


@pytest.fixture(scope="module")
def experiment_run(tmp_path_factory, kafka_bootstrap):
    """One run of the experiment on generated sessions with a planted high-value path:
    the outcomes topic, and the worker's live figures once every outcome is in."""
    tmp = tmp_path_factory.mktemp("experiment")
    (tmp / "experiment.toml").write_text(EXPERIMENT)
    config = isolated_settings(kafka_bootstrap, tmp,
                                      experiment=str(tmp / "experiment.toml"))
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(2500, seed=17, plant=PlantedPath()))
    tally = Tally(config).start()
    worker = WorkerProcess(config, tmp / "worker.log").start()
    try:
        send(config, events)
        assert tally.wait_for(len(events), timeout_s=600), worker.log_tail()
        wait_until_idle(config)
        outcomes, counts = read_outcomes(config)  # unique by event id
        assert counts["repeated"] == counts["invalid"] == 0
        live = _metrics(config)
        while live["counters"]["outcomes"] < len(outcomes):  # the next snapshot
            live = _metrics(config)
        yield {"outcomes": outcomes, "live": live["experiment"],
               "views": len(events), "log": worker.log_tail}
    finally:
        tally.stop()
        worker.stop()


def _metrics(config) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{config.web_port}/api/metrics",
                                timeout=10) as response:
        return json.loads(response.read())


def _figures(outcomes, control):
    tally = estimates.Tally()
    for session in estimates.sessions_of(outcomes):
        tally.add_session(session)
    return estimates.figures(tally.sums, control=control)


def test_the_live_figures_are_those_of_the_outcomes_topic(experiment_run):
    outcomes = experiment_run["outcomes"]
    assert len(outcomes) > 0.6 * experiment_run["views"]  # most sessions ended in the replay
    assert experiment_run["live"]["control"] == "explore"
    _assert_close(experiment_run["live"]["total"], _figures(outcomes, "explore"))
    assert {o["variant"] for o in outcomes} == {"explore", "markov", "markov-too", "popular"}


def _assert_close(found, expected, path="") -> None:
    """Equal, floats to rounding: the topic is read in another order than it was summed."""
    if isinstance(expected, dict):
        assert set(found) == set(expected), path
        for key in expected:
            _assert_close(found[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, float):
        assert found == pytest.approx(expected, rel=1e-6, abs=1e-6), path
    else:
        assert found == expected, path


def test_the_better_variant_is_ahead_with_an_interval_that_excludes_zero(experiment_run):
    against_popular = _figures(experiment_run["outcomes"], control="popular")["variants"]
    for better in ("markov", "markov-too"):  # the cluster's next pages beat overall popularity
        ahead = against_popular[better]["vs_control"]["hit_rate"]
        assert estimates.significant(ahead) and ahead["low"] > 0, (better, ahead)
    # the expected-gain policy, exploring, leads visitors to more of what they buy
    behind = experiment_run["live"]["total"]["variants"]["popular"]["vs_control"]
    assert estimates.significant(behind["followed_value"])
    assert behind["followed_value"]["high"] < 0, behind


def test_arms_of_one_policy_show_no_significant_difference(experiment_run):
    variants = _figures(experiment_run["outcomes"], control="markov")["variants"]
    for metric in ("hit_rate", "value_per_session", "conversion"):
        assert not estimates.significant(variants["markov-too"]["vs_control"][metric]), metric


def test_offpolicy_estimates_agree_with_the_variants_own_arm(experiment_run):
    live = experiment_run["live"]["total"]
    arm = live["variants"]["markov"]["hit_rate"]
    for target in ("markov-shadow", "markov"):  # the shadow, and the served variant itself
        found = live["offpolicy"][target]
        assert found["support"] > 0.8 and found["hit"]["ess"] > 200, found
        for estimator in ("ips", "snips", "dr"):
            estimate = found["hit"][estimator]
            spread = estimates.Z * math.hypot(estimate["se"], arm["se"])
            assert abs(estimate["mean"] - arm["mean"]) <= spread, (target, estimator,
                                                                   estimate, arm)
