"""The agents in Faust's test context: tables in memory, outgoing sends captured."""

import asyncio
import dataclasses
import json
from unittest.mock import AsyncMock, Mock, patch

import pytest

from stream.app import app as faust_app

faust_app.conf.store = "memory://"  # before the agents module declares its tables

from stream import agents  # noqa: E402
from stream.checkpoints import ModelCheckpoints  # noqa: E402
from stream.config import settings  # noqa: E402
from stream.models import Recommendation, RecommendedPage, Step  # noqa: E402
from stream.policy import EXIT  # noqa: E402


T0 = 1_501_591_568_000


@pytest.fixture
async def app(tmp_path, monkeypatch):
    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    faust_app.flow_control.resume()
    for table in (agents.sessions, agents.clusters, agents.cluster_values, agents.orders):
        table.data.clear()
    monkeypatch.setattr(agents, "value_cache", agents._ClusterValuesSnapshot(max_age_s=0))
    monkeypatch.setattr(agents, "_models", ModelCheckpoints(
        tmp_path / "models", agents.learner, settings()))
    return faust_app


def view(n: int, page: str, session: str = "s1", seconds: int = 0, **extra) -> bytes:
    return json.dumps({"event_id": f"{session}-{n}", "session_id": session, "visitor_id": "v",
                       "timestamp": T0 + seconds * 1000, "page_path": page, **extra}).encode()


def sent_values(mock: Mock) -> list:
    return [call.kwargs["value"] for call in mock.call_args_list]


async def test_sessionizer_sends_serve_and_learn_steps(app):
    with patch.object(agents.steps_topic, "send_soon", new=Mock()) as steps:
        async with agents.sessionize.test_context() as agent:
            await agent.put(view(1, "/home"), key=b"s1")
            await agent.put(view(2, "/home", seconds=20), key=b"s1")
            await agent.put(view(3, "/basket.html", seconds=40), key=b"s1")
    got = [(s.cluster, s.event_id, s.serve, s.learn_next, s.source[1:], s.sequence)
           for s in sent_values(steps)]
    assert got == [
        ("home", "s1-1", True, None, [0, 0], 1),
        ("home", "s1-2", True, "home", [1, 0], 2),  # same cluster: one step learns and serves
        ("home", "s1-3", False, "cart", [2, 0], 0),  # the label goes to the previous cluster ...
        ("cart", "s1-3", True, None, [2, 1], 3),     # ... the recommendation to the current one
    ]
    record = agents.sessions["s1"]
    assert record["state"]["hits"] == 3 and [o for o, _ in record["outbox"]] == [0, 1, 2]


async def test_sessionizer_dead_letters_bad_input_and_goes_on(app):
    with patch.object(agents.steps_topic, "send_soon", new=Mock()) as steps, \
            patch.object(agents.dead_letter_topic, "send", new=AsyncMock()) as dead:
        async with agents.sessionize.test_context() as agent:
            await agent.put(b"{not json", key=b"s1")
            await agent.put(view(1, "/home"), key=b"other-session")
            await agent.put(view(2, "/home", revenue=-1.0), key=b"s1")
            await agent.put(view(2, "/home"), key=b"")
            await agent.put(view(3, "/home"), key=b"s1")
    reasons = [letter.reason for letter in sent_values(dead)]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "message key does not match session_id"
    assert reasons[2].startswith("revenue -1.0")
    assert reasons[3] == "message has no key (the session id is expected)"
    assert sent_values(dead)[0].value_b64 == "e25vdCBqc29u"  # the raw bytes, base64
    assert [s.event_id for s in sent_values(steps)] == ["s1-3"]


async def test_sessionizer_closes_inactive_sessions(app, monkeypatch):
    monkeypatch.setattr(agents, "SWEEP_EVERY", 1)  # sweep at every offset
    with patch.object(agents.steps_topic, "send_soon", new=Mock()) as steps:
        async with agents.sessionize.test_context() as agent:
            await agent.put(view(1, "/basket.html", session="quiet"), key=b"quiet")
            # another session's event two hours later moves event time past the timeout
            await agent.put(view(1, "/home", session="busy", seconds=7200), key=b"busy")
    exits = [s for s in sent_values(steps) if s.learn_next == EXIT]
    assert [(s.cluster, s.session_id) for s in exits] == [("cart", "quiet")]
    # closed; kept as a tombstone with its exit until the group commits past it
    assert agents.sessions["quiet"]["state"] is None and agents.sessions["busy"]["state"]


X = {"previous": "home", "device": "desktop"}


def step(cluster: str, n: int, serve: bool = True, learn_next: str | None = None,
         **extra) -> Step:
    return Step(cluster=cluster, event_id=f"e{n}", session_id=f"s{n}", event_time=T0,
                ingest_time=T0, source=[0, n, 0], sequence=1 if serve else 0, serve=serve,
                features=X if serve else None, learn_next=learn_next,
                learn_features=X if learn_next else None, **extra)


async def test_learn_and_serve_learns_and_recommends_with_the_numbers_behind(app):
    with patch.object(agents.answers_topic, "send_soon", new=Mock()) as recs:
        async with agents.learn_and_serve.test_context() as agent:
            await agent.put(step("home", 0))                       # nothing learned yet
            for n in range(30):
                nxt = ["cart", "cart", "drinkware", "apparel", EXIT][n % 5]
                await agent.put(step("home", n + 1, serve=False, learn_next=nxt))
            await agent.put(step("cart", 40, serve=False, credit=50.0, first_view=True))
            await agent.put(step("home", 99))
    cold, warm = (Recommendation.from_data(answer) for answer in sent_values(recs))
    assert cold.cold and cold.items == [] and cold.fallback == "popular"
    assert not warm.cold and warm.fallback is None and warm.policy == "river+q"
    assert warm.policy_version == 30                       # samples the river model learned
    clusters = [item.cluster for item in warm.items]
    assert set(clusters) <= {"cart", "drinkware", "apparel"} and len(clusters) == 3
    assert [item.score for item in warm.items] == sorted(
        (item.score for item in warm.items), reverse=True)
    row = agents.learner.new_row(agents.clusters["home"])
    assert row.markov.counts == {"cart": 12, "drinkware": 6, "apparel": 6, EXIT: 6}
    assert row.scores["river"].events == 24               # EXIT labels are learned, not scored
    assert agents.cluster_values["cart"][1] == 50.0         # page value of cart, shared


async def test_learn_and_serve_learns_a_step_sent_again_once_but_answers_it_again(app):
    with patch.object(agents.answers_topic, "send_soon", new=Mock()) as answers:
        async with agents.learn_and_serve.test_context() as agent:
            await agent.put(step("home", 1, learn_next="cart"))
            await agent.put(step("home", 2, serve=False, learn_next="cart"))
            # the sessionizer processed the page view of source 1 again: the same step again
            await agent.put(step("home", 1, learn_next="cart"))
    row = agents.learner.new_row(agents.clusters["home"])
    assert row.markov.counts == {"cart": 2} and row.sources == {"0": [2, 0]}
    assert agents._models._cache["home"][2].n_seen == 2
    assert [a["event_id"] for a in sent_values(answers)] == ["e1", "e1"]


async def test_a_step_that_fails_is_dead_lettered_and_answered_as_failed(app, monkeypatch):
    monkeypatch.setattr(agents, "_recommend", Mock(side_effect=ValueError("boom")))
    with patch.object(agents.answers_topic, "send_soon", new=Mock()) as answers, \
            patch.object(agents, "_dead_letter", new=AsyncMock()) as dead:
        async with agents.learn_and_serve.test_context() as agent:
            await agent.put(step("home", 1))
    assert "internal error: ValueError('boom')" in dead.call_args.args[1]
    assert sent_values(answers) == [
        {"session_id": "s1", "sequence": 1, "event_time": T0, "failed": True}]


async def test_learn_and_serve_after_a_restart_skips_what_changelog_and_checkpoint_hold(app):
    async with agents.learn_and_serve.test_context() as agent:
        await agent.put(step("home", 1, serve=False, learn_next="cart"))
    row = agents.learner.new_row(agents.clusters["home"])
    offset, sources, model = agents._models._cache["home"]
    # as after a restart: the same step delivered again at the same steps offset
    agents._models._cache["home"] = (offset + 5, sources, model)
    agents.clusters.data["home"] = dataclasses.replace(row, offset=offset + 5).to_json()
    async with agents.learn_and_serve.test_context() as agent:
        await agent.put(step("home", 1, serve=False, learn_next="cart"))
    row = agents.learner.new_row(agents.clusters["home"])
    assert row.markov.counts == {"cart": 1} and agents._models._cache["home"][2].n_seen == 1


def answer(n: int, sequence: int, session: str = "s") -> Recommendation:
    return Recommendation(session_id=session, event_id=f"{session}-{n}", sequence=sequence,
                          cluster="home", items=[RecommendedPage(cluster="cart", score=1.0)],
                          policy="river+q", policy_version=1, cold=False, fallback=None,
                          event_time=T0 + sequence, ingest_time=T0, publish_time=0)


async def test_answers_are_published_in_the_order_of_the_sessions_page_views(app):
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()) as recs:
        async with agents.publish_in_order.test_context() as agent:
            for n, sequence in ((2, 2), (3, 3), (1, 1), (9, 1), (4, 4), (2, 2)):
                await agent.put(answer(n, sequence, session="s" if n != 9 else "t").to_plain(),
                                key="s")
    published = [(r.session_id, r.event_id) for r in sent_values(recs)]
    # held until s-1 came; t is another session; s-2 delivered again goes out again
    assert published == [("s", "s-1"), ("s", "s-2"), ("s", "s-3"), ("t", "t-9"),
                         ("s", "s-4"), ("s", "s-2")]
    assert sent_values(recs)[0].items[0].cluster == "cart"  # the answer, intact


async def test_a_failed_answer_takes_its_turn_and_publishes_nothing(app):
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()) as recs:
        async with agents.publish_in_order.test_context() as agent:
            await agent.put(answer(3, 3).to_plain(), key="s")
            await agent.put(answer(1, 1).to_plain(), key="s")
            await agent.put(agents.failed_answer("s", 2, T0 + 2), key="s")
    assert [r.event_id for r in sent_values(recs)] == ["s-1", "s-3"]


async def test_a_tick_publishes_answers_held_too_long_for_a_missing_one(app, monkeypatch):
    monkeypatch.setattr(agents, "HOLD_MS", 0)
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()) as recs:
        async with agents.publish_in_order.test_context() as agent:
            await agent.put(answer(3, 3).to_plain(), key="s")  # 1 and 2 never come
            await agent.put(answer(4, 4).to_plain(), key="s")
            assert not recs.called
            await agent.put(agents.TICK)
    assert [r.event_id for r in sent_values(recs)] == ["s-3", "s-4"]
