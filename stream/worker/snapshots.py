"""What every worker serves from: the learning state of all shards, merged.

Each shard publishes, at most once a second, a :class:`ClusterSnapshot` of
every cluster it changed: plain JSON counts (no pickles cross Kafka), keyed by
``<partition>/<cluster>`` on a compacted topic that every worker follows from its start.
:class:`MergedView` keeps the latest snapshot of each key and merges them per cluster:
Markov counts, unique views, credited revenue and prequential scores are sums; a Q-value is
the visit-weighted mean of the shards' Q-values. The policy reads the merged rows and
values; they change only when a snapshot is folded in, so serving reads read-only copies.

>>> view = MergedView()
>>> for partition, counts in ((0, {"cart": 2}), (1, {"cart": 1, "home": 1})):
...     _ = view.fold(ClusterSnapshot(partition, "home", offset=9, published_ms=0,
...                               row=ClusterRow.from_json({"markov": counts, "q": {"actions": {
...                                    "cart": [3.0 + partition, sum(counts.values())]}},
...                                    "page_value": {"unique_views": 1, "credited": 5.0},
...                                    "scores": {}}),
...                               model_samples=2))
>>> row = view.row("home")
>>> row.markov.counts, row.page_value.value, view.values()["home"].visitors
({'cart': 3, 'home': 1}, 5.0, 2)
>>> row.q.q("cart"), row.q.visits("cart")  # (2 x 3.0 + 2 x 4.0) / 4
(3.5, 4)
"""

from __future__ import annotations

import dataclasses
import json

from stream.core.learning.cluster import ClusterRow, ClusterValue
from stream.core.learning.markov import NextPageCounts
from stream.core.learning.pagevalue import PageValueStats
from stream.core.learning.prequential import Score
from stream.core.learning.qlearning import QRow


@dataclasses.dataclass(frozen=True)
class ClusterSnapshot:
    """One shard's learning state of one cluster, as of input ``offset`` of its partition."""

    partition: int
    cluster: str
    offset: int
    published_ms: int
    row: ClusterRow  # plain JSON on the topic (to_bytes), an object in memory
    model_samples: int

    @property
    def key(self) -> str:
        return f"{self.partition}/{self.cluster}"

    def to_bytes(self) -> bytes:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["row"] = self.row.to_json()
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "ClusterSnapshot":
        data = json.loads(raw)
        return cls(partition=int(data["partition"]), cluster=str(data["cluster"]),
                   offset=int(data["offset"]), published_ms=int(data["published_ms"]),
                   row=ClusterRow.from_json(dict(data["row"])),
                   model_samples=int(data["model_samples"]))


class MergedView:
    """The latest snapshot of every (partition, cluster), merged per cluster on demand."""

    def __init__(self):
        self._snapshots: dict[str, dict[int, ClusterSnapshot]] = {}  # cluster -> partition ->
        self._rows: dict[str, ClusterRow] = {}  # merged, until a snapshot of the cluster comes
        self._values: dict[str, ClusterValue] = {}
        self._stale: set[str] = set()  # clusters whose value is not merged yet

    def fold(self, snapshot: ClusterSnapshot) -> bool:
        """Take ``snapshot`` unless a later one of its key is here already."""
        shards = self._snapshots.setdefault(snapshot.cluster, {})
        current = shards.get(snapshot.partition)
        if current is not None and current.offset >= snapshot.offset:
            return False  # ours, read back from the topic, or an older one
        shards[snapshot.partition] = snapshot
        self._rows.pop(snapshot.cluster, None)
        self._stale.add(snapshot.cluster)
        return True

    def row(self, cluster: str) -> ClusterRow:
        """The cluster's learning state over every shard (empty when none has it)."""
        row = self._rows.get(cluster)
        if row is None:
            shards = self._snapshots.get(cluster, {})
            row = self._rows[cluster] = merge_rows([shards[p].row for p in sorted(shards)])
        return row

    def values(self) -> dict[str, ClusterValue]:
        """V(s), page value, exit rate and visitors of every cluster learned so far (one
        dict, updated in place as snapshots come)."""
        while self._stale:
            cluster = self._stale.pop()
            self._values[cluster] = self.row(cluster).published()
        return self._values

    def model_samples(self, cluster: str) -> int:
        return sum(s.model_samples for s in self._snapshots.get(cluster, {}).values())

    def published_ms(self, cluster: str) -> int | None:
        """When the latest snapshot of the cluster was taken (None: never)."""
        shards = self._snapshots.get(cluster)
        return max(s.published_ms for s in shards.values()) if shards else None

    def offsets(self) -> dict[int, int]:
        """Per partition, the highest input offset any of its snapshots reflects."""
        offsets: dict[int, int] = {}
        for shards in self._snapshots.values():
            for partition, snapshot in shards.items():
                offsets[partition] = max(offsets.get(partition, -1), snapshot.offset)
        return offsets

    def clusters(self) -> list[str]:
        return sorted(self._snapshots)

    def __len__(self) -> int:
        """Snapshots held: one per (partition, cluster)."""
        return sum(len(shards) for shards in self._snapshots.values())


def merge_rows(rows: list[ClusterRow]) -> ClusterRow:
    """The sum of ``rows``' counts, with each Q-value the visit-weighted mean of theirs
    (per action name: an action one shard never visited weighs nothing)."""
    if len(rows) == 1:
        return rows[0]
    counts: dict[str, int] = {}
    visits: dict[str, int] = {}
    weighted: dict[str, float] = {}
    unique_views, credited, scores = 0, 0.0, {}
    for row in rows:
        for cluster, n in row.markov.counts.items():
            counts[cluster] = counts.get(cluster, 0) + n
        for action, (q, n) in row.q.items():
            visits[action] = visits.get(action, 0) + n
            weighted[action] = weighted.get(action, 0.0) + q * n
        unique_views += row.page_value.unique_views
        credited += row.page_value.credited
        for name, score in row.scores.items():
            scores[name] = scores.get(name, Score()) + score
    q = QRow({action: (weighted[action] / n, n) for action, n in visits.items()})
    return ClusterRow(q=q, markov=NextPageCounts(counts),
                      page_value=PageValueStats(unique_views, credited), scores=scores)
