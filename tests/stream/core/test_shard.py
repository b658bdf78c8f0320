"""A shard: one partition's sessions and learning, applied once per offset, checkpointed and
merged with the others' snapshots."""

import pytest

from producers.generator import generate
from stream.config import Settings
from stream.core.clusters import PageClusterer
from stream.core.learning.cluster import ClusterLearner
from stream.core.models import EXIT
from stream.core.shard import SWEEP_EVERY, Shard
from stream.worker.checkpoints import ShardCheckpoints
from stream.worker.snapshots import ClusterSnapshot, MergedView, merge_rows

CLUSTERER = PageClusterer.default()
TIMEOUT = 30 * 60 * 1000


def learner() -> ClusterLearner:
    return ClusterLearner(Settings().learning())


def views(sessions: int = 60, seed: int = 3) -> list:
    return sorted(generate(sessions, seed=seed), key=lambda v: (v.timestamp, v.hit_number))


def fed(shard: Shard, events, start: int = 0) -> Shard:
    for offset, view in enumerate(events, start=start):
        shard.apply(view, CLUSTERER.cluster_of(view.page_path, view.page_title),
                    offset=offset, ingest_time=0)
    return shard


def state(shard: Shard) -> dict:
    return {"offset": shard.offset, "sessions": dict(shard.sessions),
            "rows": {c: row.to_json() for c, row in shard.rows.items()},
            "samples": dict(shard.model.seen)}


def test_an_offset_delivered_again_is_not_learned_again():
    events = views()
    once = fed(Shard(0, learner(), TIMEOUT), events)
    twice = fed(Shard(0, learner(), TIMEOUT), events)
    fed(twice, events[: len(events) // 2])  # redelivered after a crash
    assert state(twice) == state(once)


def test_sweeps_close_quiet_sessions_and_teach_the_exit():
    events = views(200)
    shard = fed(Shard(0, learner(), TIMEOUT), events)
    assert len(events) > SWEEP_EVERY
    exits = sum(row.markov.counts.get(EXIT, 0) for row in shard.rows.values())
    assert exits > 0
    latest = max(v.timestamp for v in events)
    assert all(latest - s.last_time <= TIMEOUT + 10 * 60 * 1000
               for s in shard.sessions.values())  # closed within about one sweep


def test_a_checkpointed_shard_continues_as_if_it_never_stopped(tmp_path):
    events = views(120)
    half = len(events) // 2
    through = fed(Shard(1, learner(), TIMEOUT), events)

    store = ShardCheckpoints(tmp_path / "shards", learner(), TIMEOUT)
    first = fed(Shard(1, learner(), TIMEOUT), events[:half])
    store.capture(first)
    store.write()
    store.close()
    reopened = ShardCheckpoints(tmp_path / "shards", learner(), TIMEOUT)
    loaded = reopened.load(1)
    assert state(loaded) == state(first)
    assert reopened.load(2).offset == -1  # another partition: nothing checkpointed
    assert state(fed(loaded, events[half:], start=half)) == state(through)


def test_a_failed_write_keeps_what_was_captured_for_the_next(tmp_path):
    store = ShardCheckpoints(tmp_path / "shards", learner(), TIMEOUT)
    shard = fed(Shard(0, learner(), TIMEOUT), views(20))
    store.capture(shard)
    assert not shard.dirty_sessions and not shard.dirty_clusters
    store.capture(shard)  # nothing new: what was captured stays pending until written
    store.write()
    assert state(store.load(0)) == state(shard)


def test_the_merged_view_sums_counts_and_weights_q_by_visits():
    events = views(200)
    shards = [Shard(p, learner(), TIMEOUT) for p in range(2)]
    for offset, view in enumerate(events):  # sessions split over two partitions by id
        shard = shards[hash(view.session_id) % 2]
        shard.apply(view, CLUSTERER.cluster_of(view.page_path, view.page_title),
                    offset=offset, ingest_time=0)
    merged = MergedView()
    for shard in shards:
        for cluster, row in shard.rows.items():
            merged.fold(ClusterSnapshot(shard.partition, cluster, shard.offset, 0,
                                        row, shard.model.seen.get(cluster, 0)))
    home = [s.rows["home"] for s in shards]
    row = merged.row("home")
    assert row.markov.total == sum(r.markov.total for r in home)
    assert row.page_value.unique_views == sum(r.page_value.unique_views for r in home)
    actions = {a for r in home for a, _ in r.q.items()}
    assert {a for a, _ in row.q.items()} == actions
    for action in actions:
        visits = sum(r.q.visits(action) for r in home)
        expected = sum(r.q.q(action) * r.q.visits(action) for r in home) / visits
        assert row.q.visits(action) == visits
        assert row.q.q(action) == pytest.approx(expected)
    assert merged.model_samples("home") == sum(s.model.seen.get("home", 0) for s in shards)
    assert merge_rows(home) == row


def test_an_older_snapshot_does_not_replace_a_newer_one():
    merged = MergedView()
    row = learner().new_row()
    newer = ClusterSnapshot(0, "home", offset=50, published_ms=2, row=row, model_samples=5)
    older = ClusterSnapshot(0, "home", offset=40, published_ms=1, row=row, model_samples=4)
    assert merged.fold(newer) and not merged.fold(older)
    assert merged.model_samples("home") == 5
    assert ClusterSnapshot.from_bytes(newer.to_bytes()) == newer
