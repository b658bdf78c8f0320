"""Fault e: a poison storm. Thousands of malformed messages of every kind, interleaved with
valid page views, through one worker.

Each malformed message must be in the dead-letter topic once, with its raw key and value and
the reason for its kind; the worker must stay up throughout; and every input offset must be
accounted for: input offsets = recommended + dead-lettered.
"""

import base64
import collections
import time

import pytest

from producers.malformed import KINDS, malformed_messages
from producers.replay import encode
from stream.kafka import admin
from tests.faults.harness import Ledger, Workers, numbered_events, record, send

pytestmark = pytest.mark.integration

MALFORMED = 3000
REASONS = {  # what the dead letter of each kind must say
    "not JSON": "not JSON", "invalid UTF-8": "not UTF-8", "NaN revenue": "NaN",
    "Infinity revenue": "Infinity", "missing field": "missing field: page_path",
    "wrong type": "field timestamp must be int", "negative timestamp": "before 1970",
    "far-future timestamp": "in the future", "unknown hit type": "unknown hit_type",
    "duplicate key": "duplicate key", "deep nesting": "nesting too deep",
    "oversized": "exceeds the limit", "not an object": "not a JSON object",
    "empty key": "no key",
}


def interleaved(first: list, second: list) -> list:
    """Both lists evenly mixed, each in its own order."""
    placed = [(i / len(first), 0, x) for i, x in enumerate(first)]
    placed += [(i / len(second), 1, x) for i, x in enumerate(second)]
    return [x for *_, x in sorted(placed, key=lambda item: item[:2])]


def test_a_poison_storm_is_dead_lettered_and_the_worker_stays_up(run_settings, tmp_path,
                                                                 artifacts_dir):
    assert set(REASONS) == set(KINDS)  # a new kind needs its expected reason here
    config = run_settings()
    admin.ensure_topics(config, config.topic_partitions())
    events = numbered_events(400, seed=51)
    bad = malformed_messages(MALFORMED)
    kind_of = {(key, value): kind for kind, key, value in bad}
    assert len(kind_of) == MALFORMED  # each one recognisable by its key and value
    valid = [(view.session_id.encode(), encode(view)) for view in events]
    with Ledger(config, events) as ledger, Workers(config, tmp_path) as workers:
        workers.start()
        started = time.monotonic()
        sent = send(config, interleaved(valid, [(key, value) for _kind, key, value in bad]))
        workers.check_alive()
        ledger.wait_recommended(90, dead=MALFORMED, workers=workers)
        processed_s = time.monotonic() - started
        result = ledger.reconcile()
        workers.check_alive()
        letters = list(ledger.tally.dead_letters)
    admin.delete_run_topics(config)
    record(artifacts_dir, "e poison storm", result, None, malformed_in=MALFORMED,
           dead_letters=result.dead_letters, processed_s=processed_s)

    assert sent == len(events) + MALFORMED
    raw = [(base64.b64decode(letter.key_b64 or ""), base64.b64decode(letter.value_b64))
           for letter in letters]
    assert collections.Counter(raw) == collections.Counter(kind_of.keys())  # each once, intact
    wrong = [(kind_of[message], letter.reason) for message, letter in zip(raw, letters)
             if REASONS[kind_of[message]] not in letter.reason]
    assert wrong == [], wrong[:10]  # each with the reason for its kind
    assert all(letter.topic == config.pageviews_topic for letter in letters)
    assert len({(letter.partition, letter.offset) for letter in letters}) == MALFORMED
    assert result.lost == [] and result.foreign == 0 and result.duplicates == 0
    assert result.input_offsets == result.recommended + result.dead_letters
