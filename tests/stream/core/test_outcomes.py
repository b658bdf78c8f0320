"""Outcomes of served recommendations, as a shard completes them from its page views."""

from stream.core.learning.cluster import ClusterLearner, LearningConfig
from stream.core.models import PageView
from stream.core.shard import SWEEP_EVERY, Shard

T0, TIMEOUT = 1_501_591_568_000, 1_800_000


def _view(session, n, minutes, revenue=0.0):
    return PageView(event_id=f"{session}-{n}", session_id=session, visitor_id="v",
                    timestamp=T0 + int(minutes * 60_000), page_path=f"/p{n}", revenue=revenue)


def _serve(shard, view, cluster, offset, shown):
    step = shard.apply(view, cluster, offset=offset, ingest_time=offset)
    if step is not None:
        shard.outcomes.served(view.session_id, {
            "event_id": view.event_id, "sequence": step.sequence, "variant": "a",
            "epsilon": 0.0, "cluster": cluster,
            "items": [{"cluster": c, "propensity": 1.0} for c in shown],
            "counterfactuals": {}, "expected": {}})
    return step


def test_a_session_that_times_out_yields_one_outcome_per_recommendation():
    shard = Shard(0, ClusterLearner(LearningConfig()), TIMEOUT)
    _serve(shard, _view("s", 1, 0), "home", 0, ["bags"])
    _serve(shard, _view("s", 2, 1), "bags", 1, ["cart"])
    _serve(shard, _view("s", 3, 2, revenue=25.0), "shoes", 2, ["cart"])
    assert shard.take_closed() == []
    _serve(shard, _view("s", 4, 90), "home", 3, ["bags"])  # a new session, same id
    [closed] = shard.take_closed()  # one session ended
    assert [(o["event_id"], o["next"], o["followed"], o["revenue_after"], o["opens_session"])
            for o in closed] == [("s-1", "bags", True, 25.0, True),
                                 ("s-2", "shoes", False, 25.0, False),
                                 ("s-3", "(exit)", False, 0.0, False)]
    assert {o["session_revenue"] for o in closed} == {25.0}


def test_a_page_view_delivered_again_changes_no_outcome():
    shard = Shard(0, ClusterLearner(LearningConfig()), TIMEOUT)
    _serve(shard, _view("s", 1, 0), "home", 0, ["bags"])
    _serve(shard, _view("s", 2, 1, revenue=5.0), "bags", 1, ["cart"])
    assert _serve(shard, _view("s", 2, 1, revenue=5.0), "bags", 1, ["cart"]) is None
    shard.close_all()
    [outcomes] = shard.take_closed()
    assert [(o["event_id"], o["revenue_after"]) for o in outcomes] == [("s-1", 5.0), ("s-2", 0.0)]


def test_quiet_sessions_are_closed_by_the_sweep_of_another_session():
    shard = Shard(0, ClusterLearner(LearningConfig()), TIMEOUT)
    _serve(shard, _view("quiet", 1, 0), "home", 1, ["bags"])
    _serve(shard, _view("busy", 1, 60), "home", SWEEP_EVERY, ["bags"])  # sweeps at this offset
    assert [[o["session_id"] for o in outcomes] for outcomes in shard.take_closed()] == [
        ["quiet"]]
