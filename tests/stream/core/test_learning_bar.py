"""The accuracy bar of the learning issue, on the bundled generator's 50,000-session sample:
the River classifier ranks the next page at least as well as the Markov baseline (HR@3)."""

from producers.generator import generate
from stream.config import Settings
from stream.core.clusters import PageClusterer
from stream.core.evaluate import evaluate


def test_river_hr3_is_at_least_markovs_on_50000_sessions():
    report = evaluate(generate(50_000, seed=7), Settings().learning(), PageClusterer.default())
    river, markov = report["models"]["river"], report["models"]["markov"]
    assert river["events"] == markov["events"] > 300_000
    assert river["hr3"] >= markov["hr3"]
    assert river["mrr"] >= markov["mrr"]
