"""Page-cluster rules: the GStore defaults, user rule files and their errors."""

from __future__ import annotations

import pickle

import pytest

from stream.clusters import OTHER, PageClusterer
from stream.config import Settings

GSTORE = "/google+redesign"


@pytest.fixture(scope="module")
def clusterer() -> PageClusterer:
    return PageClusterer.default()


@pytest.mark.parametrize("path, cluster", [
    ("/home", "home"),
    ("/", "home"),
    ("/store.html", "home"),
    (f"{GSTORE}/apparel/mens/mens+t+shirts", "apparel_men"),
    (f"{GSTORE}/apparel/womens/womens+outerwear", "apparel_women"),
    (f"{GSTORE}/apparel/kids/kids+infant", "apparel_kids"),
    (f"{GSTORE}/apparel/headgear", "headgear"),
    (f"{GSTORE}/apparel", "apparel"),
    (f"{GSTORE}/bags", "bags"),
    (f"{GSTORE}/bags/backpacks", "bags"),
    (f"{GSTORE}/drinkware", "drinkware"),
    (f"{GSTORE}/electronics", "electronics"),
    (f"{GSTORE}/office", "office"),
    (f"{GSTORE}/lifestyle", "lifestyle"),
    (f"{GSTORE}/accessories/stickers", "stickers"),
    (f"{GSTORE}/accessories", "accessories"),
    (f"{GSTORE}/shop+by+brand/youtube", "brand_youtube"),
    (f"{GSTORE}/shop+by+brand/android", "brand_android"),
    (f"{GSTORE}/shop+by+brand/google", "brand_google"),
    (f"{GSTORE}/shop+by+brand/waze", "brands"),
    (f"{GSTORE}/apparel/mens/mens+t+shirts/google+mens+short+sleeve+badge+tee+charcoal.axd",
     "product"),
    ("/Google+Redesign/Apparel/Google+Dino+Game+Tee+GGOEGXXX1234", "product"),
    ("/product/google-bike-bell", "product"),
    ("/basket.html", "cart"),
    ("/signin.html", "signin"),
    ("/registersuccess.html", "signin"),
    ("/myaccount.html?mode=vieworders", "signin"),
    ("/yourinfo.html", "checkout_your_info"),
    ("/payment.html", "checkout_payment"),
    ("/revieworder.html", "checkout_review"),
    ("/ordercompleted.html", "checkout_confirmation"),
    ("/asearch.html", "search"),
    ("/store.html?search=hoodie", "search"),
    ("/search?q=bottle", "search"),
    ("/store-policies/frequently-asked-questions", "info"),
    ("/store-policies/returns", "info"),
    ("/faq.html", "info"),
    ("/some/page/nobody/expected", OTHER),
])
def test_gstore_paths(clusterer, path, cluster):
    assert clusterer.cluster_of(path) == cluster


@pytest.mark.parametrize("path, cluster", [
    (f"{GSTORE}/drinkware?sortci=price+asc", "drinkware"),
    ("/basket.html?utm_source=newsletter", "cart"),
    ("/HOME", "home"),
    (f"{GSTORE}/apparel/mens/mens+t+shirts/google+tee.axd?color=red", "product"),
])
def test_query_strings_and_case_do_not_change_the_cluster(clusterer, path, cluster):
    assert clusterer.cluster_of(path) == cluster


@pytest.mark.parametrize("title, cluster", [
    ("Checkout Review", "checkout_review"),
    ("Shopping Cart", "cart"),
    ("The Google Merchandise Store - Log In", "signin"),
    ("Store search results", "search"),
    ("Men's T-Shirts | Apparel | Google Merchandise Store", "apparel_men"),
    ("Women's | Apparel | Google Merchandise Store", "apparel_women"),
    ("YouTube | Shop by Brand | Google Merchandise Store", "brand_youtube"),
    ("Home", "home"),
])
def test_titles_place_pages_whose_path_says_nothing(clusterer, title, cluster):
    assert clusterer.cluster_of("/p?id=17", title) == cluster


def test_cluster_names_are_tens_in_rule_order_with_other_last(clusterer):
    names = clusterer.clusters
    assert names[-1] == OTHER and len(set(names)) == len(names)
    assert 10 <= len(names) <= 60
    assert {"home", "product", "search", "cart", "signin", "checkout_your_info",
            "checkout_payment", "checkout_review", "checkout_confirmation", "info"} <= set(names)


def test_default_rules_are_the_configured_default(clusterer):
    assert PageClusterer.from_file(Settings().cluster_rules).clusters == clusterer.clusters


def test_pickle_round_trip_keeps_answers(clusterer):
    clusterer.cluster_of("/basket.html")
    copy = pickle.loads(pickle.dumps(clusterer))
    assert copy.cluster_of("/basket.html") == "cart"
    assert copy.cluster_of(f"{GSTORE}/office") == "office"
    assert copy.clusters == clusterer.clusters


def _write(tmp_path, text: str):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_user_rules_first_match_wins(tmp_path):
    path = _write(tmp_path, """
[[rule]]
cluster = "sale"
path = '/sale(/|$)'

[[rule]]
cluster = "shoes"
path = '/shoes'
title = '^sneakers'

[[rule]]
cluster = "sale"
title = 'discount'
""")
    clusterer = PageClusterer.from_file(path)
    assert clusterer.clusters == ("sale", "shoes", OTHER)
    assert clusterer.cluster_of("/shoes/sale") == "sale"
    assert clusterer.cluster_of("/shoes/red") == "shoes"
    assert clusterer.cluster_of("/x", "Sneakers for all") == "shoes"
    assert clusterer.cluster_of("/x", "Big DISCOUNT week") == "sale"
    assert clusterer.cluster_of("/x", "About us") == OTHER


def test_a_user_rule_may_name_other(tmp_path):
    path = _write(tmp_path, "[[rule]]\ncluster = 'other'\npath = '^/tmp'\n"
                            "[[rule]]\ncluster = 'docs'\npath = '^/'\n")
    clusterer = PageClusterer.from_file(path)
    assert clusterer.clusters == ("docs", OTHER)
    assert clusterer.cluster_of("/tmp/x") == OTHER


@pytest.mark.parametrize("text, message", [
    ("[[rule]]\ncluster = 'a'\npath = 'x'\n[[rule]]\ncluster = 'b'\npath = '(unclosed'\n",
     r"\[\[rule\]\] #2 .*bad path regex '\(unclosed'"),
    ("[[rule]]\ncluster = 'a'\ntitle = '[z-a]'\n", r"#1 .*bad title regex"),
    ("[[rule]]\npath = '/x'\n", r"#1 .*missing field 'cluster'"),
    ("[[rule]]\ncluster = 'a'\n", r"#1 .*needs a 'path' or a 'title'"),
    ("[[rule]]\ncluster = 'a'\npaht = '/x'\n", r"#1 .*unknown field 'paht'"),
    ("[[rule]]\ncluster = 'a'\npath = 3\n", r"#1 .*'path' must be a string"),
    ("rule = 'not a table'\n", r"no \[\[rule\]\] tables"),
    ("[[rule]\ncluster = 'a'\n", r"not valid TOML"),
])
def test_bad_rule_files_name_the_file_and_the_rule(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as caught:
        PageClusterer.from_file(path)
    assert str(path) in str(caught.value)


def test_missing_rule_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        PageClusterer.from_file(tmp_path / "absent.toml")
