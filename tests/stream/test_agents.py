"""The agents in Faust's test context: tables in memory, outgoing sends captured."""

import asyncio
import json
from unittest.mock import AsyncMock, Mock, patch

import pytest

from stream.app import app as faust_app

faust_app.conf.store = "memory://"  # before the agents module declares its tables

from stream import agents  # noqa: E402
from stream.models import Step  # noqa: E402
from stream.policy import EXIT  # noqa: E402


T0 = 1_501_591_568_000


@pytest.fixture
async def app():
    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    faust_app.flow_control.resume()
    agents.sessions.data.clear()
    agents.transitions.data.clear()
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
    got = [(s.cluster, s.event_id, s.serve, s.learn_next) for s in sent_values(steps)]
    assert got == [
        ("home", "s1-1", True, None),
        ("home", "s1-2", True, "home"),         # same cluster: one step learns and serves
        ("home", "s1-3", False, "cart"),        # the label goes to the previous cluster ...
        ("cart", "s1-3", True, None),           # ... the recommendation to the current one
    ]
    assert agents.sessions["s1"]["hits"] == 3


async def test_sessionizer_dead_letters_bad_input_and_goes_on(app):
    with patch.object(agents.steps_topic, "send_soon", new=Mock()) as steps, \
            patch.object(agents.dead_letter_topic, "send", new=AsyncMock()) as dead:
        async with agents.sessionize.test_context() as agent:
            await agent.put(b"{not json", key=b"s1")
            await agent.put(view(1, "/home"), key=b"other-session")
            await agent.put(view(2, "/home", revenue=-1.0), key=b"s1")
            await agent.put(view(3, "/home"), key=b"s1")
    reasons = [letter.reason for letter in sent_values(dead)]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "message key does not match session_id"
    assert reasons[2].startswith("revenue -1.0")
    assert sent_values(dead)[0].value_b64 == "e25vdCBqc29u"  # the raw bytes, base64
    assert [s.event_id for s in sent_values(steps)] == ["s1-3"]


async def test_sessionizer_closes_inactive_sessions(app):
    with patch.object(agents.steps_topic, "send_soon", new=Mock()) as steps:
        async with agents.sessionize.test_context() as agent:
            await agent.put(view(1, "/basket.html", session="quiet"), key=b"quiet")
            # another session's event two hours later moves event time past the timeout
            await agent.put(view(1, "/home", session="busy", seconds=7200), key=b"busy")
    exits = [s for s in sent_values(steps) if s.learn_next == EXIT]
    assert [(s.cluster, s.session_id) for s in exits] == [("cart", "quiet")]
    assert "quiet" not in agents.sessions and "busy" in agents.sessions


def step(cluster: str, n: int, serve: bool = True, learn_next: str | None = None) -> Step:
    return Step(cluster=cluster, event_id=f"e{n}", session_id=f"s{n}", event_time=T0,
                ingest_time=T0, serve=serve, learn_next=learn_next)


async def test_learn_and_serve_learns_counts_and_recommends(app):
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()) as recs:
        async with agents.learn_and_serve.test_context() as agent:
            for n, nxt in enumerate(["cart", "cart", "drinkware", "cart", "apparel", EXIT]):
                await agent.put(step("home", n, serve=False, learn_next=nxt))
            await agent.put(step("home", 99))
            await agent.put(step("search", 100))
    first, second = sent_values(recs)
    assert not first.cold and first.event_id == "e99" and first.policy_version == 6
    assert [(item.cluster, item.score) for item in first.items] == [
        ("cart", 0.5), ("apparel", round(1 / 6, 6)), ("drinkware", round(1 / 6, 6))]
    assert second.cold and second.items == []   # no data about search yet


async def test_learn_and_serve_does_not_learn_a_redelivered_step_twice(app):
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()):
        async with agents.learn_and_serve.test_context() as agent:
            event = await agent.put(step("home", 1, serve=False, learn_next="cart"))
            offset = event.message.offset
    # as after a restart: the changelog already holds this step's effect and a later offset
    agents.transitions.data["home"] = {"counts": {"cart": 1}, "offset": offset + 5}
    with patch.object(agents.recommendations_topic, "send_soon", new=Mock()):
        async with agents.learn_and_serve.test_context() as agent:
            await agent.put(step("home", 1, serve=False, learn_next="cart"))
    assert agents.transitions["home"]["counts"] == {"cart": 1}
