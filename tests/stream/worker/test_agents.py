"""The agent in Faust's test context: shards in memory, outgoing sends captured."""

import asyncio
import json
import time
from unittest.mock import AsyncMock, Mock, patch

import pytest
from faust.types import TP

from stream.core.experiments import Experiment, Variant
from stream.core.models import Recommendation
from stream.core.shard import Shard
from stream.worker import agents
from stream.worker.app import app as faust_app

T0 = 1_501_591_568_000


@pytest.fixture
async def app(monkeypatch):
    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    faust_app.flow_control.resume()
    monkeypatch.setattr(agents, "shards", agents.Shards())
    monkeypatch.setattr(agents, "merged", agents.MergedView())
    shard = Shard(0, agents.learner, agents._timeout_ms, on_scored=agents.metrics.scored)
    agents.shards.ready[0] = shard  # ready from offset 0: nothing to rebuild from Kafka
    topic = agents.pageviews_topic.get_topic_name()
    monkeypatch.setattr(agents, "_assigned", lambda: [TP(topic, 0)])
    return faust_app


def view(n: int, page: str, session: str = "s1", seconds: int = 0, **extra) -> bytes:
    return json.dumps({"event_id": f"{session}-{n}", "session_id": session, "visitor_id": "v",
                       "timestamp": T0 + seconds * 1000, "page_path": page, **extra}).encode()


async def processed(offset: int, partition: int = 0) -> None:
    """Wait until the agent has handled ``offset``: it takes page views in batches, so a
    put returns before the batch it joined is handled."""
    for _ in range(200):
        shard = agents.shards.ready.get(partition)
        if shard is not None and shard.offset >= offset:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"offset {offset} was not processed within 2 s")


def sent_values(mock: Mock) -> list:
    return [call.kwargs["value"] for call in mock.call_args_list]


def produced(mock: Mock, topic: str) -> list[tuple[bytes, bytes]]:
    return [call.args[1:] for call in mock.call_args_list if call.args[0] == topic]


def recommendations(mock: Mock) -> list[Recommendation]:
    """What the worker published, read as readers read it: each field of the record."""
    out = []
    for _key, raw in produced(mock, agents._recommendations):
        data = json.loads(raw)
        assert set(data) == set(Recommendation._options.fields)
        out.append(Recommendation.from_data(data))
    return out


async def test_every_page_view_is_answered_in_order_and_learned_once(app):
    with patch.object(agents, "_produce", new=AsyncMock()) as recs:
        async with agents.serve.test_context() as agent:
            await agent.put(view(1, "/home"), key=b"s1")
            await agent.put(view(2, "/home", seconds=20), key=b"s1")
            await agent.put(view(3, "/basket.html", seconds=40), key=b"s1")
            agent.sent_offset = 1  # offsets 1 and 2 delivered again (after a crash)
            await agent.put(view(2, "/home", seconds=20), key=b"s1")
            await agent.put(view(3, "/basket.html", seconds=40), key=b"s1")
    got = [(r.event_id, r.sequence, r.cluster) for r in recommendations(recs)]
    assert got == [("s1-1", 1, "home"), ("s1-2", 2, "home"), ("s1-3", 3, "cart")]
    shard = agents.shards.ready[0]
    assert shard.offset == 2
    assert shard.rows["home"].markov.counts == {"home": 1, "cart": 1}
    assert shard.latest["s1"]["event_id"] == "s1-3"


async def test_bad_input_is_dead_lettered_and_the_stream_goes_on(app):
    with patch.object(agents, "_produce", new=AsyncMock()) as recs, \
            patch.object(agents.dead_letter_topic, "send", new=AsyncMock()) as dead:
        async with agents.serve.test_context() as agent:
            await agent.put(b"not json", key=b"s1")
            await agent.put(view(2, "/home"), key=b"other")  # key is not the session id
            await agent.put(view(3, "/home"), key=b"s1")
    reasons = [letter.reason for letter in sent_values(dead)]
    assert reasons[0].startswith("not JSON") and "key does not match" in reasons[1]
    assert [r.event_id for r in recommendations(recs)] == ["s1-3"]
    assert agents.shards.ready[0].offset == 2


async def test_recommendations_come_from_the_merged_snapshots(app):
    with patch.object(agents, "_produce", new=AsyncMock()) as recs:
        async with agents.serve.test_context() as agent:
            for n in range(30):  # sessions that go from home to cart, then pay
                session = f"s{n}"
                await agent.put(view(1, "/home", session, n * 60), key=session.encode())
                await agent.put(view(2, "/basket.html", session, n * 60 + 10),
                                key=session.encode())
            await processed(59)
            assert not agents.merged.clusters()  # nothing published yet
            await agents.publish_snapshots(force=True)
            await agent.put(view(1, "/home", "new", 3600), key=b"new")
    keys = {key for key, _value in produced(recs, agents._settings.snapshots_topic)}
    assert b"0/home" in keys and b"0/cart" in keys
    warm = recommendations(recs)[-1]
    assert warm.event_id == "new-1" and warm.items[0].cluster == "cart"
    assert warm.items[0].probability > 0.9
    assert agents.merged.row("home").markov.counts["cart"] == 30


async def test_a_followed_recommendation_counts_as_a_served_hit(app):
    before = dict(agents.metrics.counters)
    with patch.object(agents, "_produce", new=AsyncMock()) as recs:
        async with agents.serve.test_context() as agent:
            await agent.put(view(1, "/home"), key=b"s1")
            await processed(0)
            agents.shards.ready[0].latest["s1"]["items"] = [{"cluster": "cart"}]
            await agent.put(view(2, "/basket.html", seconds=10), key=b"s1")  # followed
            await agent.put(view(3, "/home", seconds=20), key=b"s1")  # not followed
    assert len(recommendations(recs)) == 3
    counters = agents.metrics.counters
    assert counters["served_scored"] - before["served_scored"] == 2
    assert counters["served_followed"] - before["served_followed"] == 1


async def test_a_shard_behind_the_next_offset_is_caught_up_from_the_log(app, monkeypatch):
    logged = [(0, b"s1", view(1, "/home"), time.time()),
              (1, b"s1", view(2, "/basket.html", seconds=10), time.time())]
    monkeypatch.setattr(agents, "read_pageviews",
                        lambda config, partition, start, end: iter(logged[start:end + 1]))
    monkeypatch.setattr(agents.checkpoints, "load",
                        lambda partition: Shard(partition, agents.learner, agents._timeout_ms))
    del agents.shards.ready[0]  # lost local state
    with patch.object(agents, "_produce", new=AsyncMock()) as recs:
        async with agents.serve.test_context() as agent:
            agent.sent_offset = 2
            await agent.put(view(3, "/home", seconds=20), key=b"s1")
            for _ in range(100):  # the rebuild runs in an executor: put returns before it
                if recs.call_args_list:
                    break
                await asyncio.sleep(0.05)
    rec = recommendations(recs)[0]
    assert (rec.event_id, rec.sequence) == ("s1-3", 3)  # the session's state was rebuilt
    assert agents.shards.ready[0].rows["home"].markov.counts == {"cart": 1}


async def test_each_session_is_served_its_variant_and_the_counterfactuals_are_logged(
        app, monkeypatch):
    experiment = Experiment((Variant("gain", share=0.5), Variant("explore", share=0.5,
                                                                    epsilon=1.0),
                             Variant("popular", policy="popular", shadow=True)))
    monkeypatch.setattr(agents, "experiment", experiment)
    sessions = [f"s{n}" for n in range(12)]
    with patch.object(agents, "_produce", new=AsyncMock()) as recs:
        async with agents.serve.test_context() as agent:
            for n, session in enumerate(sessions):
                for hit, page in enumerate(["/home", "/basket.html", "/home"]):
                    await agent.put(view(hit + 1, page, session, n * 60 + hit * 10),
                                    key=session.encode())
    published = recommendations(recs)
    assert len(published) == 36
    by_session = {}
    for rec in published:
        by_session.setdefault(rec.session_id, set()).add(rec.variant)
        if rec.variant == "explore":  # it explores: every other variant's list is logged
            assert set(rec.counterfactuals) == {"gain", "popular"}
            logged = {item["cluster"]: item["logging_propensity"]
                      for items in rec.counterfactuals.values() for item in items}
            for item in rec.items:
                assert 0 < item.propensity <= 1
                assert logged.get(item.cluster, item.propensity) == item.propensity
        else:
            assert set(rec.counterfactuals) == {"popular"}
            assert not rec.explored and all(item.propensity == 1.0 for item in rec.items)
    assert by_session == {s: {experiment.assign(s).name} for s in sessions}
    assert {v for names in by_session.values() for v in names} == {"gain", "explore"}
    assert all(rec.explored for rec in published if rec.variant == "explore" and rec.items)


async def test_an_ended_session_publishes_the_outcome_of_each_recommendation(app):
    with patch.object(agents, "_produce", new=AsyncMock()) as produce:
        async with agents.serve.test_context() as agent:
            for hit, page in enumerate(["/home", "/basket.html", "/home"]):
                await agent.put(view(hit + 1, page, "s", hit * 10), key=b"s")
            await agent.put(view(9, "/home", "s", 7200), key=b"s")  # 2 h later: a new session
    served = {rec.event_id: rec for rec in recommendations(produce)}
    [(key, raw)] = produced(produce, agents._outcomes)  # one message: the session's
    outcomes = json.loads(raw)["outcomes"]
    assert key == b"s" and [o["event_id"] for o in outcomes] == ["s-1", "s-2", "s-3"]
    for outcome, went in zip(outcomes, ["cart", "home", "(exit)"]):
        shown = [item.cluster for item in served[outcome["event_id"]].items]
        assert outcome["next"] == went and outcome["followed"] == (went in shown)
        assert [item["cluster"] for item in outcome["items"]] == shown
    assert agents.metrics.counters["outcomes"] == 3
