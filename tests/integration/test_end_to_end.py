"""Replay → real broker → real Faust worker → recommendations, with malformed input mixed in."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from consumers.tally import Tally
from producers.generator import generate
from producers.malformed import malformed_messages
from producers.replay import encode, make_producer
from stream.core.clusters import PageClusterer
from stream.kafka import admin
from stream.tools.processes import WorkerProcess

pytestmark = pytest.mark.integration


def lookup(config, session_id: str) -> tuple[int, dict]:
    url = (f"http://127.0.0.1:{config.web_port}/api/sessions/"
           f"{urllib.parse.quote(session_id)}/recommendation")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_every_valid_event_gets_one_recommendation_and_bad_ones_are_dead_lettered(
        run_settings, tmp_path):
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = list(generate(300, seed=3))
    bad = malformed_messages(60)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    tally = Tally(config).start()
    try:
        producer = make_producer(config)
        every = len(events) // len(bad)
        for n, view in enumerate(events):
            if n % every == 0 and n // every < len(bad):
                _kind, key, value = bad[n // every]
                producer.send(config.pageviews_topic, key=key, value=value)
            producer.send(config.pageviews_topic, key=view.session_id.encode(), value=encode(view))
        producer.flush()
        producer.close()
        assert tally.wait_for(len(events), len(bad), timeout_s=180), worker.log_tail()
        # let stragglers (duplicates, stray extra dead letters) arrive before counting
        tally.wait_for(len(events) + 1, len(bad) + 1, timeout_s=3)
        latest = lookup(config, events[-1].session_id)
        unknown = lookup(config, "no-such-session")
    finally:
        tally.stop()
        worker.stop()

    assert set(tally.recommendations) == {view.event_id for view in events}
    assert tally.duplicates == 0
    # a website asks for a session's latest recommendation over HTTP
    assert latest[0] == 200 and latest[1]["event_id"] == events[-1].event_id
    assert latest[1] == tally.recommendations[events[-1].event_id].to_plain()
    assert unknown[0] == 404 and "no open session" in unknown[1]["error"]
    clusterer = PageClusterer.default()
    for view in events:
        rec = tally.recommendations[view.event_id]
        assert rec.session_id == view.session_id
        assert rec.cluster == clusterer.cluster_of(view.page_path, view.page_title)
        assert rec.cluster not in [item.cluster for item in rec.items]
        assert rec.cold == (rec.items == [])
    assert sum(not rec.cold for rec in tally.recommendations.values()) > len(events) / 2

    assert len(tally.dead_letters) == len(bad)
    raw_sent = sorted(value for _kind, _key, value in bad)
    raw_dead = sorted(base64.b64decode(letter.value_b64) for letter in tally.dead_letters)
    assert raw_dead == raw_sent
    assert all(letter.reason and letter.topic == config.pageviews_topic
               for letter in tally.dead_letters)
