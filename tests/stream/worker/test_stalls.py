"""Stalled offset commits: which partitions are stalled, and when the worker restarts."""

import asyncio
import inspect
import logging
import time

import pytest
from faust.types import TP

from stream.worker import stalls
from stream.worker.app import app as faust_app
from stream.worker.stalls import COMMITS, STALL_S, stalled

TP0 = TP("pageviews", 0)
tick = inspect.unwrap(stalls.restart_when_commits_stall)  # one run of the timer's body


def test_only_a_partition_with_a_lasting_hole_is_stalled():
    committed = {"hole": 5, "caught_up": 5, "idle": 9, "new": None}
    acked = {"hole": [7, 8], "caught_up": [5, 6], "idle": [], "new": [3]}
    suspects = {}
    assert stalled(list(committed), committed, acked, suspects, now=0, commits=0) == []
    assert set(suspects) == {"hole"}
    found = stalled(list(committed), committed, acked, suspects, now=STALL_S, commits=COMMITS)
    assert found == ["hole at 5 (acknowledged from 7)"]


def test_a_cured_hole_is_forgotten_and_a_later_one_waits_again():
    suspects = {}
    stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=0, commits=0)
    assert stalled(["p"], {"p": 5}, {"p": [5, 6, 7]}, suspects, now=10, commits=2) == []
    assert suspects == {}
    stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=20, commits=3)
    assert stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=20 + STALL_S - 1,
                   commits=3 + COMMITS) == []


@pytest.mark.parametrize("later, commits", [(STALL_S, COMMITS - 1), (STALL_S - 1, 10 * COMMITS)])
def test_a_hole_is_not_stalled_before_both_its_time_and_its_commits(later, commits):
    suspects = {}
    stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=100, commits=10)
    assert stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=100 + later,
                   commits=10 + commits) == []


def test_a_hole_at_a_new_offset_starts_its_clock_again():
    suspects = {}
    stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=0, commits=0)
    moved = {"p": 8}, {"p": [10]}
    assert stalled(["p"], *moved, suspects, now=10, commits=5) == []
    assert suspects["p"] == (8, 10, 5)
    assert stalled(["p"], *moved, suspects, now=STALL_S + 5, commits=5 + COMMITS) == []
    assert stalled(["p"], *moved, suspects, now=STALL_S + 10, commits=5 + COMMITS) == [
        "p at 8 (acknowledged from 10)"]


@pytest.fixture
async def restarts(monkeypatch):
    """Partition 0 committed at 5 with 7 and 8 acknowledged; the restarts asked for."""
    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    consumer = faust_app.consumer
    monkeypatch.setattr(consumer, "assignment", lambda: {TP0})
    monkeypatch.setattr(consumer, "_committed_offset", {TP0: 5})
    monkeypatch.setattr(consumer, "_acked", {TP0: [7, 8]})
    monkeypatch.setattr(consumer, "commit_rounds", COMMITS)
    monkeypatch.setattr(faust_app, "rebalancing", False)
    monkeypatch.setattr(faust_app, "in_recovery", False)
    monkeypatch.setattr(stalls, "_suspects", {})
    asked = []
    monkeypatch.setattr(stalls, "_restart_in_place", lambda: asked.append(True))
    return asked


def seen_stalling() -> None:
    """The hole at 5 was seen STALL_S ago, COMMITS commits back."""
    stalls._suspects[TP0] = (5, time.monotonic() - STALL_S, 0)


async def test_a_stalled_partition_restarts_the_worker(restarts, caplog):
    seen_stalling()
    with caplog.at_level(logging.ERROR, logger=stalls.__name__):
        await tick()
    assert restarts == [True]
    assert "at 5 (acknowledged from 7)" in caplog.text


async def test_a_hole_just_seen_is_remembered_without_a_restart(restarts):
    await tick()
    assert restarts == []
    assert stalls._suspects[TP0][0] == 5


async def test_a_hole_acknowledged_since_restarts_nothing(restarts):
    seen_stalling()
    faust_app.consumer._acked[TP0] = [5, 6, 7, 8]
    await tick()
    assert restarts == [] and stalls._suspects == {}


@pytest.mark.parametrize("flag", ["rebalancing", "in_recovery"])
async def test_suspects_are_cleared_while_the_app_rebalances(restarts, monkeypatch, flag):
    seen_stalling()
    monkeypatch.setattr(faust_app, flag, True)
    await tick()
    assert restarts == [] and stalls._suspects == {}


def test_a_partition_that_moved_away_starts_its_clock_again_when_it_comes_back():
    suspects = {}
    stalled(["p", "q"], {"p": 5, "q": 1}, {"p": [7], "q": [3]}, suspects, now=0, commits=0)
    stalled(["q"], {"q": 1}, {"q": [3]}, suspects, now=10, commits=5)  # p reassigned
    assert "p" not in suspects
    assert stalled(["p"], {"p": 5}, {"p": [7]}, suspects, now=40, commits=9) == []
