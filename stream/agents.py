"""The worker's agents: thin loops that move records between topics and tables.

``sessionize`` (pageviews, key: session) validates each page view, dead-letters bad ones,
and sends steps to the partition of the page cluster; ``learn_and_serve`` (steps, key:
cluster) learns, per cluster, the River classifier, Markov counts, Q-row and page value,
and publishes a recommendation for every page view. Both write tables, so both run with
concurrency 1. The learning itself is plain code in :mod:`stream.learning`.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
from pathlib import Path

from stream.app import app
from stream.checkpoints import ModelCheckpoints
from stream.clusters import PageClusterer
from stream.config import settings
from stream.learning.cluster import ClusterLearner, ClusterRow, ClusterValue
from stream.learning.prequential import Score
from stream.metrics import WorkerMetrics
from stream.models import DeadLetter, PageView, Recommendation, Step
from stream.policy import POLICY_NAME, candidates, rank
from stream.sessions import SessionState, advance, exit_step, expired
from stream.topics import dead_letter_topic, pageviews_topic, recommendations_topic, steps_topic
from stream.validation import InvalidEvent, parse_pageview

log = logging.getLogger(__name__)
_settings = settings()
_clusterer = PageClusterer.from_file(_settings.cluster_rules)
_timeout_ms = int(_settings.session_timeout_s * 1000)
learner = ClusterLearner(_settings.learning(), _clusterer.clusters)
_models = ModelCheckpoints(Path(app.conf.datadir) / "models", learner, _settings)
metrics = WorkerMetrics(worker=f"{socket.gethostname()}:{_settings.web_port}")

# key: session id -> SessionState (json)
sessions = app.Table("sessions", default=None, partitions=_settings.partitions)
# key: page cluster -> ClusterRow (json), on the partition of that cluster
clusters = app.Table("clusters", default=None, partitions=_settings.partitions)
# key: page cluster -> ClusterValue (json), on every worker
cluster_values = app.GlobalTable("cluster-values", default=None,
                                 partitions=_settings.partitions)


@app.agent(pageviews_topic, concurrency=1)
async def sessionize(stream):
    sweeps: dict[int, int] = {}  # partition -> event time of its last expiry sweep
    async for event in stream.events():
        message = event.message
        try:
            view = _valid_pageview(message.key, message.value)
            _sessionize_one(view, message)
            metrics.received()
            _sweep_expired(message.partition, view.timestamp, sweeps)
        except InvalidEvent as exc:
            await _dead_letter(message, str(exc))
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("page view at %s[%s]@%s failed", message.topic,
                          message.partition, message.offset)
            await _dead_letter(message, f"internal error: {exc!r}")


@app.agent(steps_topic, concurrency=1)
async def learn_and_serve(stream):
    async for event in stream.events():
        try:
            await _learn_and_serve_one(event.value, event.message)
        except Exception as exc:  # an escaping error would stall the partition
            log.exception("step at offset %s failed", event.message.offset)
            await _dead_letter(event.message, f"internal error: {exc!r}")


def _valid_pageview(key: bytes | None, value: bytes | None) -> PageView:
    if value is None:
        raise InvalidEvent("empty message (no value)")
    view = parse_pageview(value, _settings.max_event_bytes)
    if not key:
        raise InvalidEvent("message has no key (the session id is expected)")
    if key != view.session_id.encode():
        raise InvalidEvent("message key does not match session_id")
    return view


def _sessionize_one(view: PageView, message) -> None:
    cluster = _clusterer.cluster_of(view.page_path, view.page_title)
    state = SessionState.from_json(sessions.get(view.session_id))
    state, steps = advance(state, view, cluster, offset=message.offset,
                           ingest_time=_ms(message.timestamp), timeout_ms=_timeout_ms)
    sessions[view.session_id] = state.to_json() | {"partition": message.partition}
    for step in steps:
        steps_topic.send_soon(key=step.cluster, value=step)


def _sweep_expired(partition: int, event_time: int, sweeps: dict[int, int]) -> None:
    """Close this partition's sessions that went quiet, so session state stays bounded.

    Only the current event's partition is swept: Faust writes a table change to the
    changelog partition of the event being processed.
    """
    if event_time - sweeps.get(partition, 0) < _timeout_ms / 4:
        return
    sweeps[partition] = event_time
    now = _ms(time.time())
    for session_id, data in list(sessions.items()):
        if data["partition"] != partition:
            continue
        state = SessionState.from_json(data)
        if expired(state, event_time, _timeout_ms):
            steps_topic.send_soon(key=state.cluster, value=exit_step(session_id, state, now))
            del sessions[session_id]


@app.timer(5.0)
async def checkpoint_models():
    _models.save_all()


@app.on_before_shutdown.connect
async def _checkpoint_at_shutdown(app, **kwargs):
    _models.save_all()


async def _learn_and_serve_one(step: Step, message) -> None:
    """Predict, then learn (each part once per offset), then answer the page view."""
    row = learner.new_row(clusters.get(step.cluster))
    model_offset, model = await _models.load(step.cluster, message.partition, row.offset)
    values = value_cache.get()
    ranking = None
    if message.offset > model_offset:
        if step.learn_next and step.learn_features is not None:
            ranking = learner.learn_model(model, step)
        _models.update(step.cluster, message.offset, model, learned=ranking is not None)
    if message.offset > row.offset:
        learned = learner.learn_row(row, step, ranking, values, offset=message.offset)
        if learned is not row:  # a step that only serves changes nothing to write
            clusters[step.cluster] = learned.to_json()
            value_cache.publish(step.cluster, learned)
            for name, score in learned.scores.items():
                metrics.scored(name, score - row.scores.get(name, Score()))
            row = learned
    if step.serve:
        rec = _recommend(step, row, model, values)
        recommendations_topic.send_soon(key=step.session_id, value=rec)
        metrics.recommended({**rec.asdict(), "items": [item.asdict() for item in rec.items]})


def _recommend(step: Step, row: ClusterRow, model, values) -> Recommendation:
    proba, fallback, version = candidates(row, model, step.features or {}, step.cluster,
                                          values, learner.config)
    items = rank(proba, row, values, learner.index, learner.config)
    return Recommendation(
        session_id=step.session_id, event_id=step.event_id, cluster=step.cluster,
        items=items, policy=POLICY_NAME, policy_version=version, cold=not items,
        fallback=fallback, event_time=step.event_time, ingest_time=step.ingest_time,
        publish_time=_ms(time.time()))


class _ClusterValuesSnapshot:
    """The GlobalTable as ClusterValue records, re-read at most every ``max_age_s``.

    Other workers' updates reach the GlobalTable asynchronously anyway; reading it once per
    step would decode every cluster's JSON from RocksDB for each event.
    """

    def __init__(self, max_age_s: float = 0.2):
        self.max_age_s = max_age_s
        self._values: dict[str, ClusterValue] = {}
        self._read_at = float("-inf")

    def get(self) -> dict[str, ClusterValue]:
        if time.monotonic() - self._read_at > self.max_age_s:
            self._values = {c: ClusterValue.from_json(v) for c, v in cluster_values.items()}
            self._read_at = time.monotonic()
        return self._values

    def publish(self, cluster: str, row: ClusterRow) -> None:
        """Share the cluster's V(s), page value, exit rate and traffic when they moved."""
        value = row.published()
        current = self.get().get(cluster)
        if current is None or value.differs(current):
            cluster_values[cluster] = value.to_json()
            self._values[cluster] = value


value_cache = _ClusterValuesSnapshot()


async def _dead_letter(message, reason: str) -> None:
    metrics.dead_lettered()
    await dead_letter_topic.send(key=message.key if isinstance(message.key, bytes) else None,
                                 value=DeadLetter(
        reason=reason, topic=message.topic, partition=message.partition,
        offset=message.offset, key_b64=_b64(message.key), value_b64=_b64(message.value) or "",
        rejected_at=_ms(time.time())))


def _b64(data) -> str | None:
    if data is None:
        return None
    raw = data if isinstance(data, bytes) else str(data).encode()
    return base64.b64encode(raw).decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
