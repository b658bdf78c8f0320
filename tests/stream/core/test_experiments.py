"""Experiments: stable assignment by session, shares as configured, exploration that a
replay repeats, propensities that add up to what the policy shows."""

import collections
import itertools

import pytest

from stream.core.experiments import Experiment, Variant, explore, unit_interval

CANDIDATES = ["bags", "cart", "home", "shoes", "office"]


def test_a_session_keeps_its_variant_and_the_shares_hold():
    experiment = Experiment((Variant("a", share=0.2), Variant("b", share=0.8),
                             Variant("c", policy="markov", shadow=True)))
    sessions = [f"{i:05d}-1501591568" for i in range(20_000)]
    first = [experiment.assign(s).name for s in sessions]
    assert first == [experiment.assign(s).name for s in sessions]
    counts = collections.Counter(first)
    assert set(counts) == {"a", "b"}  # a shadow is never served
    assert counts["a"] / len(sessions) == pytest.approx(0.2, abs=0.01)


def test_exploration_is_the_same_when_a_page_view_is_processed_again():
    lists = [explore(CANDIDATES[:2], CANDIDATES, 2, 0.5, "s", f"s-{i}") for i in range(50)]
    assert lists == [explore(CANDIDATES[:2], CANDIDATES, 2, 0.5, "s", f"s-{i}")
                     for i in range(50)]
    assert {explored for _, explored, _, _ in lists} == {True, False}


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0])
def test_propensities_add_up_to_what_the_policy_shows(epsilon):
    """Over all candidates, the in-list propensities sum to the list's length and each
    slot's to 1; and they are the frequencies with which the items are shown."""
    ranked, k = ["shoes", "bags", "cart"], 3
    shown_count, slot_count = collections.Counter(), collections.Counter()
    propensity, slot_propensity = {}, {}
    draws = 20_000
    for i in range(draws):
        shown, _, p, slot = explore(ranked, CANDIDATES, k, epsilon, "s", f"s-{i}")
        for j, (item, pi, si) in enumerate(zip(shown, p, slot)):
            shown_count[item] += 1
            slot_count[j, item] += 1
            propensity[item], slot_propensity[j, item] = pi, si
    assert sum(propensity.get(c, 0.0) for c in CANDIDATES) == pytest.approx(k)
    for item, count in shown_count.items():
        assert count / draws == pytest.approx(propensity[item], abs=0.015)
    for (j, item), count in slot_count.items():
        assert count / draws == pytest.approx(slot_propensity[j, item], abs=0.015)
    for j in range(k):
        assert sum(slot_propensity.get((j, c), 0.0) for c in CANDIDATES) == pytest.approx(1.0)


def test_without_candidates_nothing_is_shown():
    assert explore([], [], 3, 1.0, "s", "s-1")[:2] == ([], False)


def test_fewer_candidates_than_slots_are_all_shown():
    shown, _, p, slot = explore(["bags"], ["bags", "cart"], 3, 1.0, "s", "s-9")
    assert sorted(shown) == ["bags", "cart"] and p == [1.0, 1.0] and slot == [0.5, 0.5]


def test_the_unit_interval_spreads_evenly():
    values = [unit_interval("x", str(i)) for i in range(10_000)]
    assert 0.0 <= min(values) and max(values) < 1.0
    assert sum(v < 0.5 for v in values) / len(values) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("variants, message", [
    ((Variant("a", share=0.5),), "add up to 1"),
    ((Variant("a"), Variant("a", shadow=True)), "unique"),
    ((Variant("a", shadow=True),), "add up to 1"),
])
def test_an_experiment_that_cannot_run_is_a_clear_error(variants, message):
    with pytest.raises(ValueError, match=message):
        Experiment(variants)


@pytest.mark.parametrize("fields, message", [
    ({"name": "a", "policy": "bandit"}, "unknown policy 'bandit'"),
    ({"name": "a", "epsilon": 1.5}, "epsilon must be in"),
    ({"name": "a b"}, "variant name"),
])
def test_a_variant_that_cannot_run_is_a_clear_error(fields, message):
    with pytest.raises(ValueError, match=message):
        Variant(**fields)


def test_an_experiment_file_is_read_and_its_mistakes_are_named(tmp_path):
    good = tmp_path / "experiment.toml"
    good.write_text('[[variant]]\nname = "default"\nshare = 0.5\n\n'
                    '[[variant]]\nname = "explore"\nshare = 0.5\nepsilon = 0.2\n\n'
                    '[[variant]]\nname = "markov"\npolicy = "markov"\nshadow = true\n')
    experiment = Experiment.from_toml(good)
    assert [v.name for v in experiment.served] == ["default", "explore"]
    assert [v.name for v in experiment.shadows] == ["markov"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[variant]]\nname = "a"\nshares = 1.0\n')
    with pytest.raises(ValueError, match=r"bad.toml, variant 1: unknown key\(s\) shares"):
        Experiment.from_toml(bad)
    with pytest.raises(ValueError, match="does not exist"):
        Experiment.from_toml(tmp_path / "missing.toml")
