"""Page-cluster rules: the GStore defaults, user rule files and their errors."""

from __future__ import annotations

import pickle

import pytest

from stream.config import Settings
from stream.core.clusters import OTHER, PageClusterer

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


# --- names built from the page: captures, per_page, the bound on names ----------------------

def _rules(tmp_path, text: str, **options) -> PageClusterer:
    return PageClusterer.from_file(_write(tmp_path, text), **options)


def test_captures_name_one_cluster_per_catalogue_folder(tmp_path):
    clusterer = _rules(tmp_path, "[[rule]]\ncluster = 'home'\npath = '^/$'\n"
                                 "[[rule]]\ncluster = 'cat_{1}'\npath = '^/c/([^/?]+)'\n"
                                 "[[rule]]\ncluster = '{kind}-{id}'\n"
                                 "path = '^/(?P<kind>[a-z]+)/(?P<id>\\d+)$'\n")
    assert clusterer.clusters == ("home", OTHER)  # templates are not fixed names
    assert clusterer.cluster_of("/c/Sports") == "cat_sports"
    assert clusterer.cluster_of("/c/On Air+News/7?x=1") == "cat_on_air_news"
    assert clusterer.cluster_of("/p/12") == "p-12"
    assert clusterer.cluster_of("/") == "home"
    assert clusterer.names() == ("home", OTHER, "cat_sports", "cat_on_air_news", "p-12")


def test_an_empty_capture_skips_the_rule_for_that_page(tmp_path):
    clusterer = _rules(tmp_path, "[[rule]]\ncluster = 'c_{1}'\npath = '^/c/([^/]*)'\n"
                                 "[[rule]]\ncluster = 'catalogue'\npath = '^/c/'\n")
    assert clusterer.cluster_of("/c/") == "catalogue"
    assert clusterer.cluster_of("/c/shoes") == "c_shoes"


def test_a_title_capture_names_the_cluster_when_the_title_matches(tmp_path):
    clusterer = _rules(tmp_path, "[[rule]]\ncluster = 'dept_{1}'\n"
                                 "title = '^([a-z]+) \\|'\n")
    assert clusterer.cluster_of("/x?id=3", "Shoes | Shop") == "dept_shoes"


def test_per_page_names_each_page_by_its_normalised_path(tmp_path):
    clusterer = _rules(tmp_path, "[[rule]]\ncluster = 'cart'\npath = '^/cart'\n"
                                 "[[rule]]\nper_page = true\npath = '^/p/'\n"
                                 "[[rule]]\nper_page = true\n")
    assert clusterer.cluster_of("/p/12") == "/p/12"
    assert clusterer.cluster_of("/P/12/?ref=home") == "/p/12"
    assert clusterer.cluster_of("/cart?step=2") == "cart"
    assert clusterer.cluster_of("/") == "/"
    assert clusterer.cluster_of("/About/") == "/about"
    assert clusterer.clusters == ("cart", OTHER)


def test_dynamic_names_stop_at_max_clusters_first_come_first_served(tmp_path):
    text = "[[rule]]\ncluster = 'home'\npath = '^/$'\n[[rule]]\nper_page = true\n"
    pages = ["/a", "/b", "/a", "/c", "/", "/d", "/b"]
    clusterer = _rules(tmp_path, text, max_clusters=4)  # home and other count
    assert [clusterer.cluster_of(page) for page in pages] == [
        "/a", "/b", "/a", OTHER, "home", OTHER, "/b"]
    assert clusterer.names() == ("home", OTHER, "/a", "/b")
    again = _rules(tmp_path, text, max_clusters=4)
    assert [again.cluster_of(page) for page in pages] == [
        clusterer.cluster_of(page) for page in pages]


def test_the_bound_holds_after_the_memo_is_cleared(tmp_path, monkeypatch):
    monkeypatch.setattr("stream.core.clusters.MEMO_SIZE", 2)
    clusterer = _rules(tmp_path, "[[rule]]\nper_page = true\n", max_clusters=3)
    answers = [clusterer.cluster_of(f"/{n % 5}") for n in range(20)]
    assert set(answers) == {"/0", "/1", OTHER} and clusterer.names() == (OTHER, "/0", "/1")


def test_max_clusters_default_and_the_setting():
    from stream.core.clusters import MAX_CLUSTERS
    assert PageClusterer.default().max_clusters == MAX_CLUSTERS == Settings().max_clusters
    with pytest.raises(ValueError, match="max_clusters=3 is fewer than the"):
        PageClusterer(PageClusterer.default().rules, max_clusters=3)


def test_max_clusters_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PAGEPILOT_MAX_CLUSTERS", "7")
    rules = _write(tmp_path, "[[rule]]\nper_page = true\n")
    monkeypatch.setenv("PAGEPILOT_CLUSTER_RULES", str(rules))
    clusterer = Settings.from_env().clusterer()
    assert clusterer.max_clusters == 7 and clusterer.cluster_of("/x") == "/x"


def test_dynamic_rules_survive_pickling(tmp_path):
    clusterer = _rules(tmp_path, "[[rule]]\ncluster = 'c_{1}'\npath = '^/c/(\\w+)'\n")
    clusterer.cluster_of("/c/a")
    copy = pickle.loads(pickle.dumps(clusterer))
    assert copy.names() == clusterer.names() and copy.cluster_of("/c/b") == "c_b"


@pytest.mark.parametrize("text, message", [
    ("[[rule]]\ncluster = 'c_{2}'\npath = '^/c/(\\w+)'\n", r"uses \{2\} but the pattern"),
    ("[[rule]]\ncluster = 'c_{0}'\npath = '^/c/(\\w+)'\n", r"uses \{0\}"),
    ("[[rule]]\ncluster = 'c_{kind}'\npath = '^/c/(\\w+)'\n", r"uses \{kind\}"),
    ("[[rule]]\ncluster = 'c_{1}'\npath = '^/c/(\\w+)'\ntitle = 'x'\n",
     r"pattern 'x' has no such group"),
    ("[[rule]]\ncluster = 'a'\nper_page = true\n", "per_page rule .* drop 'cluster'"),
    ("[[rule]]\nper_page = 'yes'\n", "'per_page' must be true or false"),
])
def test_bad_dynamic_rules_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        _rules(tmp_path, text)
