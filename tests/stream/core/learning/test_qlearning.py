"""Q-learning over page clusters: the row (keyed by action name), the reference table of
rows, and convergence to value iteration."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import pickle

import numpy as np
import pytest

from stream.core.learning import qlearning
from stream.core.learning.qlearning import EXIT, QRow
from tests.stream.core.learning.qreference import QLearner, value_iteration

GAMMA = 0.9

# A shop where buying is the best thing to do: the optimal policy runs down the funnel to
# the confirmation page and leaves, so every optimal value is a finite sum of rewards.
FUNNEL = {"home": ("category", "search", "product", EXIT),
          "category": ("home", "category", "product", EXIT),
          "search": ("product", "category", EXIT),
          "product": ("category", "cart", EXIT),
          "cart": ("product", "checkout", EXIT),
          "checkout": ("cart", "confirmation", EXIT),
          "confirmation": (EXIT,)}
FUNNEL_REWARDS = {"home": 0.0, "category": 1.0, "search": 0.5, "product": 2.0, "cart": 5.0,
                  "checkout": 20.0, "confirmation": 160.0}
# The same shop with a cheaper confirmation: now going back and forth between cart and
# checkout pays more than buying, so the optimal policy loops (the slow case for Q-learning).
LOOP_REWARDS = {**FUNNEL_REWARDS, "confirmation": 100.0}


def sample_transitions(allowed: dict, rewards: dict, n: int, seed: int) -> list:
    """``n`` transitions ``(state, next_state, reward)`` of sessions in the MDP ``allowed``.

    Each session starts on a uniformly drawn state (exploring starts, so that every move
    is tried), moves uniformly over the allowed moves, and ends at ``EXIT``.
    """
    rng = np.random.default_rng(seed)
    states, transitions, state = tuple(allowed), [], None
    while len(transitions) < n:
        if state is None:
            state = states[rng.integers(len(states))]
        moves = allowed[state]
        next_state = moves[rng.integers(len(moves))]
        transitions.append((state, next_state, rewards.get(next_state, 0.0)))
        state = None if next_state == EXIT else next_state
    return transitions


def learned(transitions, states=tuple(FUNNEL), **params) -> QLearner:
    learner = QLearner(states, **params)
    for state, next_state, reward in transitions:
        learner.learn_one(state, next_state, reward)
    return learner


def max_error(learner: QLearner, q_star: dict) -> float:
    return max(abs(learner.q_row(s).get(a, 0.0) - value) for (s, a), value in q_star.items())


def optimal_action(q_star: dict, state: str) -> str:
    return max((value, a) for (s, a), value in q_star.items() if s == state)[1]


# --- convergence -----------------------------------------------------------------------------

@pytest.mark.parametrize("rewards, n, tolerance", [
    # Measured over seeds 0-19 (omega=0.7): worst relative error 2.6e-6 after 20k transitions.
    (FUNNEL_REWARDS, 20_000, 1e-3),
    # Measured over seeds 0-19 (omega=0.7): worst relative error 3.9e-3 after 150k transitions.
    (LOOP_REWARDS, 150_000, 1e-2),
], ids=["funnel", "loop"])
def test_q_values_converge_to_value_iteration(rewards, n, tolerance):
    """After ``n`` transitions of a uniform behaviour policy every Q-value is within
    ``tolerance`` x max|Q*| of value iteration's Q*, and the greedy action is the optimal one."""
    q_star = value_iteration(FUNNEL, rewards, GAMMA)
    scale = max(abs(value) for value in q_star.values())

    learner = learned(sample_transitions(FUNNEL, rewards, n, seed=7), gamma=GAMMA, omega=0.7)

    assert max_error(learner, q_star) < tolerance * scale
    for state in FUNNEL:
        assert learner.greedy(state) == optimal_action(q_star, state)
        assert learner.value(state) == pytest.approx(
            max(q_star[state, a] for a in FUNNEL[state]), abs=tolerance * scale)


def test_optimal_policy_of_the_test_shops():
    """The two shops differ where the test says they do (guards the test's own premise)."""
    funnel = value_iteration(FUNNEL, FUNNEL_REWARDS, GAMMA)
    loop = value_iteration(FUNNEL, LOOP_REWARDS, GAMMA)
    assert optimal_action(funnel, "checkout") == "confirmation"
    assert optimal_action(loop, "checkout") == "cart"
    assert optimal_action(funnel, "home") == optimal_action(loop, "home") == "product"


def test_error_shrinks_with_more_transitions():
    q_star = value_iteration(FUNNEL, LOOP_REWARDS, GAMMA)
    transitions = sample_transitions(FUNNEL, LOOP_REWARDS, 40_000, seed=3)
    errors = [max_error(learned(transitions[:n]), q_star) for n in (5_000, 20_000, 40_000)]
    assert errors[0] > errors[1] > errors[2]


# --- value iteration -------------------------------------------------------------------------

def test_value_iteration_by_hand():
    allowed = {"a": {"b", EXIT}, "b": {"c", EXIT}, "c": {EXIT}}
    q = value_iteration(allowed, {"b": 1.0, "c": 10.0}, gamma=0.5)
    assert q == pytest.approx({("c", EXIT): 0.0, ("b", "c"): 10.0, ("b", EXIT): 0.0,
                               ("a", "b"): 1.0 + 0.5 * 10.0, ("a", EXIT): 0.0})


def test_value_iteration_exit_reward_and_dead_ends():
    q = value_iteration({"a": {"b", EXIT}, "b": set()}, {"b": 2.0, EXIT: -1.0}, gamma=0.9)
    assert q == pytest.approx({("a", "b"): 2.0, ("a", EXIT): -1.0})


def test_value_iteration_leaves_its_inputs_alone():
    allowed, rewards = {k: set(v) for k, v in FUNNEL.items()}, dict(FUNNEL_REWARDS)
    before = copy.deepcopy((allowed, rewards))
    value_iteration(allowed, rewards, GAMMA)
    assert (allowed, rewards) == before


@pytest.mark.parametrize("gamma", [1.0, -0.1])
def test_value_iteration_needs_a_discount_below_one(gamma):
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(FUNNEL, FUNNEL_REWARDS, gamma)


# --- QRow ------------------------------------------------------------------------------------

def learn(row: QRow, action: str, reward: float, next_value: float = 0.0,
          terminal: bool = False, omega: float = 0.7) -> QRow:
    return row.learned(action, reward, next_value, terminal, gamma=GAMMA, omega=omega)


def test_row_update_is_the_documented_one():
    row = learn(QRow(), "home", reward=1.0, next_value=10.0)
    assert row.q("home") == pytest.approx(1.0 + GAMMA * 10.0)
    row = learn(row, "home", reward=0.0, next_value=0.0)
    assert row.q("home") == pytest.approx(10.0 + 2 ** -0.7 * (0.0 - 10.0))
    assert row.visits("home") == 2 and row.visits("cart") == 0
    assert [action for action, _ in row.items()] == ["home"]


def test_row_terminal_update_ignores_the_next_value():
    row = learn(QRow(), EXIT, reward=4.0, next_value=1000.0, terminal=True)
    assert row.actions == {EXIT: (4.0, 1)}


def test_row_learning_rate_is_visits_to_the_minus_omega():
    targets = np.random.default_rng(1).normal(10.0, 5.0, size=50)
    for omega in (0.6, 0.7, 1.0):
        row, expected = QRow(), 0.0
        for n, target in enumerate(targets, 1):
            row = learn(row, "cart", reward=float(target), terminal=True, omega=omega)
            expected += n ** -omega * (target - expected)
        assert row.q("cart") == pytest.approx(expected, rel=1e-12)
    assert row.q("cart") == pytest.approx(targets.mean(), rel=1e-12)  # omega=1: the running mean
    assert row.visits("cart") == 50


def test_row_is_never_mutated():
    row = QRow({"home": (1.0, 1), "cart": (2.0, 1)})
    newer = learn(row, "search", reward=5.0)
    assert row == QRow({"home": (1.0, 1), "cart": (2.0, 1)})
    assert newer.visits("search") == 1 and newer != row
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.actions = {}


def test_row_value_counts_visited_actions_only():
    assert QRow().value() == 0.0
    assert QRow({"home": (-5.0, 1)}).value() == -5.0
    assert QRow({"home": (-5.0, 1), EXIT: (0.0, 1)}).value() == 0.0  # EXIT's q
    assert QRow({"home": (-5.0, 1), "cart": (7.0, 1), EXIT: (0.0, 1)}).value() == 7.0


def test_row_json_round_trip():
    row = learn(learn(QRow(), "/a/b", reward=2.5, next_value=1.0), EXIT, reward=0.0,
                terminal=True)
    data = json.loads(json.dumps(row.to_json()))
    assert data == {"actions": {"/a/b": [2.5 + GAMMA * 1.0, 1], EXIT: [0.0, 1]}}
    back = QRow.from_json(data)
    assert back == row and back.to_json() == data
    assert all(isinstance(q, float) and isinstance(n, int) for _a, (q, n) in back.items())
    assert QRow.from_json(None) == QRow()
    # Names are data: a cluster may be called "q" or "visits" without confusing the form.
    odd = QRow({"q": (1.0, 2), "visits": (3.0, 4)})
    assert QRow.from_json(json.loads(json.dumps(odd.to_json()))) == odd


def test_row_from_json_drops_the_old_array_form(caplog, monkeypatch):
    monkeypatch.setattr(qlearning, "_warned_old_form", False)
    old = {"q": [1.0, 2.0, 9.0], "visits": [1, 2, 3]}  # by rule position: not readable now
    with caplog.at_level("WARNING"):
        assert QRow.from_json(old) == QRow()
        assert QRow.from_json(old) == QRow()
    assert [r.getMessage() for r in caplog.records].count(
        "a stored Q row is in the old form (arrays by cluster rule position): "
        "its Q-values are dropped and learned again") == 1
    with pytest.raises(ValueError, match="no visits"):
        QRow.from_json({"actions": {"home": [1.0, 0]}})


def test_row_pickles():
    row = learn(QRow(), "cart", reward=1.0)
    assert pickle.loads(pickle.dumps(row)) == row


# --- QLearner --------------------------------------------------------------------------------

def test_learner_reports_visited_actions_only():
    learner = QLearner(["home", "cart", "search"], gamma=0.9)
    learner.learn_one("home", "cart", 2.0)
    learner.learn_one("home", "home", 0.0)  # 0 + gamma * V(home) = 0.9 * 2
    assert learner.q_row("home") == {"home": pytest.approx(1.8), "cart": 2.0}
    assert learner.q_row("search") == {}
    assert learner.value("search") == learner.value(EXIT) == 0.0
    assert learner.greedy("home") == "cart"
    assert learner.greedy("home", exclude=("cart",)) == "home"
    assert learner.greedy("home", exclude=("cart", "home")) is None
    assert learner.greedy("search") is None


def test_learner_refuses_unknown_and_terminal_states():
    learner = QLearner(["home", "cart"])
    with pytest.raises(KeyError, match="unknown page cluster 'basket'"):
        learner.learn_one("home", "basket", 1.0)
    with pytest.raises(KeyError, match="terminal"):
        learner.learn_one(EXIT, "home", 1.0)
    with pytest.raises(KeyError, match="unknown page cluster"):
        learner.q_row("basket")
    assert learner.q_row("home") == {}  # nothing learned by the refused transition


@pytest.mark.parametrize("params", [{"gamma": 1.5}, {"gamma": -0.1}, {"omega": 0.5},
                                    {"omega": 1.2}])
def test_learner_checks_its_hyperparameters(params):
    with pytest.raises(ValueError):
        QLearner(["home"], **params)


# --- the River-style contract ----------------------------------------------------------------

def snapshot(learner: QLearner) -> dict:
    return {state: (learner.q_row(state), learner.value(state), learner.greedy(state))
            for state in learner.clusters}


TRANSITIONS = sample_transitions(FUNNEL, FUNNEL_REWARDS, 3_000, seed=11)


def test_contract_hyperparameters_under_their_own_names():
    learner = QLearner(list(FUNNEL), gamma=0.8, omega=0.9)
    params = {name: getattr(learner, name) for name in inspect.signature(QLearner).parameters}
    clone = QLearner(**params)
    assert params == {"clusters": tuple(FUNNEL), "gamma": 0.8, "omega": 0.9}
    assert snapshot(clone) == snapshot(learner)


def test_contract_learn_one_returns_none():
    assert QLearner(["home"]).learn_one("home", EXIT, 0.0) is None


def test_contract_picklable_before_and_after_learning():
    fresh = pickle.loads(pickle.dumps(QLearner(tuple(FUNNEL))))
    for state, next_state, reward in TRANSITIONS:
        fresh.learn_one(state, next_state, reward)
    trained = learned(TRANSITIONS)
    assert snapshot(fresh) == snapshot(trained)

    restored = pickle.loads(pickle.dumps(trained))
    assert snapshot(restored) == snapshot(trained)
    for learner in (restored, trained):
        learner.learn_one("cart", "checkout", 20.0)
    assert snapshot(restored) == snapshot(trained)


def test_contract_inputs_not_modified():
    clusters = list(FUNNEL)
    transitions = copy.deepcopy(TRANSITIONS)
    learned(transitions, states=clusters)
    assert clusters == list(FUNNEL) and transitions == TRANSITIONS


def test_contract_seeded_runs_are_identical():
    runs = [learned(sample_transitions(FUNNEL, LOOP_REWARDS, 3_000, seed=42)) for _ in range(2)]
    assert snapshot(runs[0]) == snapshot(runs[1])
    assert all(runs[0].row(s) == runs[1].row(s) for s in FUNNEL)
