"""The GStore-like generator: determinism, the sample's statistics, clusters, round trips."""

from __future__ import annotations

import collections
import itertools
import statistics

import pytest

from producers import gstore
from producers.generator import START_MS, generate, sessions, write_sample
from producers.loaders import LoadStats, iter_rows
from stream.core.clusters import PageClusterer

N = 5000


@pytest.fixture(scope="module")
def sample() -> list[list]:
    return list(sessions(N, seed=7))


@pytest.fixture(scope="module")
def clusterer() -> PageClusterer:
    return PageClusterer.default()


def _intended() -> dict[gstore.Page, str]:
    """Every page of the catalogue -> the cluster the generator meant for it."""
    pages = {page: cluster for cluster, pages in gstore.PAGES.items() for page in pages}
    pages.update({page: "product" for pages in gstore.PRODUCTS.values() for page in pages})
    return pages


def test_same_seed_same_events_other_seed_other_events():
    first = [view.asdict() for view in generate(200, seed=3)]
    assert first == [view.asdict() for view in generate(200, seed=3)]
    assert first != [view.asdict() for view in generate(200, seed=4)]


def test_events_are_in_time_order_with_unique_stable_ids():
    views = list(generate(2000, seed=11))
    times = [view.timestamp for view in views]
    assert times == sorted(times) and times[0] >= START_MS
    assert len({view.event_id for view in views}) == len(views)
    assert all(view.event_id == f"{view.session_id}-{view.hit_number}" for view in views)


def test_hits_of_a_session_are_numbered_and_ordered(sample):
    for session in sample[:500]:
        assert [view.hit_number for view in session] == list(range(1, len(session) + 1))
        times = [view.timestamp for view in session]
        assert times == sorted(times)
        assert len({(view.visitor_id, view.device, view.channel) for view in session}) == 1


def test_sessions_start_as_a_poisson_process_at_the_given_rate(sample):
    hours = (sample[-1][0].timestamp - sample[0][0].timestamp) / 3_600_000
    assert N / hours == pytest.approx(70, rel=0.05)


def test_statistics_follow_the_gstore_sample(sample):
    multi = [session for session in sample if len(session) > 1]
    bounce = 1 - len(multi) / N
    transacting = sum(any(view.revenue for view in session) for session in sample) / N
    home_landing = sum(session[0].page_path == "/home" for session in multi) / len(multi)
    lengths = [len(session) for session in multi]
    repeats = sum(a.page_path == b.page_path for s in multi for a, b in itertools.pairwise(s))
    assert bounce == pytest.approx(0.49, abs=0.03)
    assert transacting == pytest.approx(0.02, abs=0.007)
    assert home_landing == pytest.approx(0.81, abs=0.04)
    assert 6 <= statistics.median(lengths) <= 8
    assert 10 <= statistics.mean(lengths) <= 18
    assert repeats / sum(length - 1 for length in lengths) == pytest.approx(0.5, abs=0.1)


def test_traffic_mix_and_time_on_page(sample):
    channels = collections.Counter(session[0].channel for session in sample)
    devices = collections.Counter(session[0].device for session in sample)
    assert channels["Direct"] / N == pytest.approx(0.35, abs=0.03)
    assert channels["Social"] / N == pytest.approx(0.23, abs=0.03)
    assert devices["desktop"] / N == pytest.approx(0.83, abs=0.03)
    dwell = [b.timestamp - a.timestamp for s in sample for a, b in itertools.pairwise(s)]
    assert 10_000 <= statistics.median(dwell) <= 60_000


def test_revenue_comes_once_on_the_confirmation_page(sample):
    for session in sample:
        paid = [view for view in session if view.revenue]
        assert all(view.hit_type == "PAGE" for view in session if not view.revenue)
        if paid:
            (view,) = paid
            assert view.hit_type == "TRANSACTION" and view.page_path == "/ordercompleted.html"
    revenue = [view.revenue for session in sample for view in session if view.revenue]
    assert 100 <= statistics.mean(revenue) <= 220


def test_checkout_funnel_narrows(sample):
    reached = collections.Counter(page for session in sample
                                  for page in {view.page_path for view in session})
    funnel = [reached[path] for path in ("/basket.html", "/payment.html", "/revieworder.html",
                                         "/ordercompleted.html")]
    assert funnel == sorted(funnel, reverse=True)
    assert reached["/basket.html"] / N == pytest.approx(166 / 1711, abs=0.02)


def test_every_catalogue_page_maps_to_its_intended_cluster(clusterer):
    for page, cluster in _intended().items():
        assert clusterer.cluster_of(page.path, page.title) == cluster, page
        assert clusterer.cluster_of(page.path) == cluster, page


def test_every_generated_page_maps_to_its_intended_cluster(sample, clusterer):
    intended = _intended()
    views = list(itertools.chain.from_iterable(sample))
    for view in views:
        page = gstore.Page(view.page_path, view.page_title)
        assert clusterer.cluster_of(page.path, page.title) == intended[page], page
    assert {intended[gstore.Page(view.page_path, view.page_title)] for view in views} == set(
        intended.values())


def test_generation_streams():
    # A million sessions would take minutes to list; the first events come at once.
    first = list(itertools.islice(generate(1_000_000, seed=5), 1000))
    assert len(first) == 1000


@pytest.mark.parametrize("fmt, name", [("pagepilot", "sample.ndjson"), ("ga360", "ga.json.gz"),
                                       ("csv", "sample.csv"), ("csv", "sample.csv.gz")])
def test_round_trip_through_every_loader(tmp_path, fmt, name):
    path = tmp_path / name
    written = write_sample(path, 300, seed=21, fmt=fmt)
    stats = LoadStats()
    loaded = list(iter_rows(path, stats=stats))
    expected = [view.asdict() for view in generate(300, seed=21)]
    assert written == len(expected) == stats.events and stats.bad_rows == 0
    key = lambda row: (row["timestamp"], row["event_id"])  # noqa: E731
    assert sorted((view.asdict() for view in loaded), key=key) == sorted(expected, key=key)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        write_sample(tmp_path / "x.xml", 1, fmt="xml")
    with pytest.raises(ValueError, match="sessions_per_hour must be positive"):
        next(sessions(1, sessions_per_hour=0))
