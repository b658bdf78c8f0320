"""The Google Merchandise Store as the generator sees it: pages and their intended clusters,
how visitors move between clusters, and the traffic mix.

The numbers follow one day of the public GA sample (DESIGN.md, "Facts of the GStore
sample"); where the sample says nothing they are plausible guesses, marked as such.
Weights need not sum to one: the generator normalises them.

>>> PAGES["cart"][0]
Page(path='/basket.html', title='Shopping Cart')
>>> PRODUCTS["bags"][0].path
'/google+redesign/bags/backpacks/google+laptop+backpack.axd'
"""

from __future__ import annotations

from typing import NamedTuple

SITE = "Google Merchandise Store"


class Page(NamedTuple):
    """A page of the store: URL path and title, as GA records them."""

    path: str
    title: str


def _category(path: str, *names: str) -> Page:
    return Page(path, " | ".join((*names, SITE)))


_R = "/google+redesign"

# Cluster -> its pages, the main page first (landing pages and most visits go there).
PAGES: dict[str, tuple[Page, ...]] = {
    "home": (Page("/home", "Home"),),
    "apparel_men": (
        _category(f"{_R}/apparel/mens/mens+t+shirts", "Men's T-Shirts", "Apparel"),
        _category(f"{_R}/apparel/mens/mens+outerwear", "Men's Outerwear", "Apparel"),
        _category(f"{_R}/apparel/mens/mens+performance+wear", "Men's Performance Wear", "Apparel"),
        _category(f"{_R}/apparel/mens", "Men's", "Apparel")),
    "apparel_women": (
        _category(f"{_R}/apparel/womens/womens+t+shirts", "Women's T-Shirts", "Apparel"),
        _category(f"{_R}/apparel/womens/womens+outerwear", "Women's Outerwear", "Apparel"),
        _category(f"{_R}/apparel/womens", "Women's", "Apparel")),
    "apparel_kids": (
        _category(f"{_R}/apparel/kids/kids+toddler", "Kid's Toddler", "Apparel"),
        _category(f"{_R}/apparel/kids/kids+infant", "Kid's Infant", "Apparel")),
    "headgear": (_category(f"{_R}/apparel/headgear", "Headgear", "Apparel"),),
    "apparel": (_category(f"{_R}/apparel", "Apparel"),),
    "bags": (
        _category(f"{_R}/bags", "Bags"),
        _category(f"{_R}/bags/backpacks", "Backpacks", "Bags"),
        _category(f"{_R}/bags/shopping+and+totes", "Shopping and Totes", "Bags")),
    "drinkware": (
        _category(f"{_R}/drinkware", "Drinkware"),
        _category(f"{_R}/drinkware/water+bottles+and+tumblers", "Water Bottles and Tumblers",
                  "Drinkware"),
        _category(f"{_R}/drinkware/mugs+and+cups", "Mugs and Cups", "Drinkware")),
    "electronics": (
        _category(f"{_R}/electronics", "Electronics"),
        _category(f"{_R}/electronics/audio", "Audio", "Electronics")),
    "office": (
        _category(f"{_R}/office", "Office"),
        _category(f"{_R}/office/notebooks+journals", "Notebooks & Journals", "Office"),
        _category(f"{_R}/office/writing+instruments", "Writing Instruments", "Office")),
    "stickers": (_category(f"{_R}/accessories/stickers", "Stickers", "Accessories"),),
    "accessories": (_category(f"{_R}/accessories", "Accessories"),),
    "lifestyle": (
        _category(f"{_R}/lifestyle", "Lifestyle"),
        _category(f"{_R}/lifestyle/fun", "Fun", "Lifestyle")),
    "brand_youtube": (_category(f"{_R}/shop+by+brand/youtube", "YouTube", "Shop by Brand"),),
    "brand_android": (_category(f"{_R}/shop+by+brand/android", "Android", "Shop by Brand"),),
    "brand_google": (_category(f"{_R}/shop+by+brand/google", "Google", "Shop by Brand"),),
    "brands": (_category(f"{_R}/shop+by+brand/waze", "Waze", "Shop by Brand"),),
    "search": (Page("/asearch.html", "Store search results"),
               Page("/store.html?search=bottle", "Store search results")),
    "signin": (Page("/signin.html", "The Google Merchandise Store - Log In"),
               Page("/registersuccess.html", "The Google Merchandise Store - Register"),
               Page("/myaccount.html", "My Account")),
    "info": (Page("/store-policies/frequently-asked-questions", "Frequently Asked Questions"),
             Page("/store-policies/shipping-information", "Shipping Information"),
             Page("/store-policies/returns", "Returns")),
    "other": (Page("/google+redesign/sale", f"Sale | {SITE}"),),
    "cart": (Page("/basket.html", "Shopping Cart"),),
    "checkout_your_info": (Page("/yourinfo.html", "Checkout Your Information"),),
    "checkout_payment": (Page("/payment.html", "Payment Method"),),
    "checkout_review": (Page("/revieworder.html", "Checkout Review"),),
    "checkout_confirmation": (Page("/ordercompleted.html", "Checkout Confirmation"),),
}


def _products(folder: str, *names: str) -> tuple[Page, ...]:
    return tuple(Page(f"{folder}/{name.lower().replace(' ', '+')}.axd", name) for name in names)


# Category -> product detail pages listed there (cluster "product"). A visitor on a
# product page goes back to its category, so each product remembers where it is listed.
PRODUCTS: dict[str, tuple[Page, ...]] = {
    "apparel_men": _products(f"{_R}/apparel/mens/mens+t+shirts",
                             "Google Mens Short Sleeve Badge Tee Charcoal",
                             "Google Mens 100 Cotton Short Sleeve Hero Tee White",
                             "YouTube Mens Short Sleeve Hero Tee Black"),
    "apparel_women": _products(f"{_R}/apparel/womens/womens+t+shirts",
                               "Google Womens Short Sleeve Hero Tee Grey"),
    "headgear": _products(f"{_R}/apparel/headgear", "Google Twill Cap"),
    "bags": _products(f"{_R}/bags/backpacks", "Google Laptop Backpack",
                      "Android Sticker Sheet Tote"),
    "drinkware": _products(f"{_R}/drinkware/water+bottles+and+tumblers",
                           "Google 22 oz Water Bottle", "Android Insulated Tumbler"),
    "electronics": _products(f"{_R}/electronics/audio", "Google Bluetooth Speaker"),
    "office": _products(f"{_R}/office/notebooks+journals", "Google Hard Cover Journal"),
    "stickers": _products(f"{_R}/accessories/stickers", "YouTube Custom Decals"),
    "brand_youtube": _products(f"{_R}/shop+by+brand/youtube", "YouTube Twill Cap"),
    "brand_android": _products(f"{_R}/shop+by+brand/android", "Android Lunch Kit"),
    "brand_google": _products(f"{_R}/shop+by+brand/google", "Google Sunglasses"),
}
# Products reached from pages without products of their own (home, search...): bestsellers.
BESTSELLERS = ("apparel_men", "drinkware", "bags", "brand_youtube", "office")

BROWSE_CLUSTERS = (*(cluster for cluster in PAGES
                     if cluster != "cart" and not cluster.startswith("checkout")), "product")

# Landing cluster of multi-page sessions: Home 81%, then men's T-shirts, drinkware,
# stickers (sample); the tail is a guess.
LANDING = {"home": .81, "apparel_men": .05, "drinkware": .03, "stickers": .025,
           "brand_youtube": .02, "product": .02, "bags": .01, "electronics": .01,
           "apparel": .01, "office": .01, "signin": .005, "other": .005}
# Bounces land more often deep in the store (ads, shared links): a guess.
BOUNCE_LANDING = {"home": .55, "product": .12, "brand_youtube": .08, "apparel_men": .07,
                  "drinkware": .04, "stickers": .03, "electronics": .03, "bags": .02,
                  "apparel": .02, "signin": .02, "info": .01, "office": .01, "other": .01}

# Next cluster from Home: Home .30, men's T-shirts .09, office .06, apparel .06,
# drinkware .05, electronics .05 (sample); the rest is a guess.
FROM_HOME = {"home": .30, "apparel_men": .09, "office": .06, "apparel": .06, "drinkware": .05,
             "electronics": .05, "brand_youtube": .05, "product": .06, "bags": .04,
             "apparel_women": .03, "lifestyle": .03, "brand_android": .03, "search": .02,
             "signin": .02, "brand_google": .02, "headgear": .02, "apparel_kids": .02,
             "accessories": .02, "stickers": .01, "brands": .01, "info": .01, "other": .01}

# Category pages stay on themselves 50-77% of the time (sample), the split is a guess.
CATEGORY_STAY = {"apparel_men": .77, "apparel_women": .70, "apparel_kids": .60, "apparel": .55,
                 "headgear": .55, "bags": .65, "drinkware": .70, "electronics": .62,
                 "office": .68, "stickers": .50, "accessories": .55, "lifestyle": .58,
                 "brand_youtube": .66, "brand_android": .60, "brand_google": .58, "brands": .50}
# Where a visitor goes on leaving a category page; "product" means one listed there.
LEAVE_CATEGORY = {"product": .35, "home": .25, "apparel_men": .05, "apparel": .04,
                  "search": .02, "drinkware": .03, "office": .03, "electronics": .03,
                  "bags": .03, "brand_youtube": .03, "signin": .02, "apparel_women": .02,
                  "lifestyle": .02, "headgear": .01, "accessories": .01, "info": .01,
                  "stickers": .01, "other": .01}
# Other pages; "category" means the category the current product is listed in.
OTHER_MOVES = {
    "product": {"product": .45, "category": .22, "home": .15, "search": .02, "signin": .03,
                "apparel_men": .03, "drinkware": .02, "brand_youtube": .02, "bags": .02,
                "office": .02},
    "search": {"search": .45, "product": .30, "home": .10, "apparel_men": .05,
               "drinkware": .03, "bags": .03, "office": .02, "electronics": .02},
    "signin": {"signin": .45, "home": .35, "product": .06, "apparel_men": .06, "search": .04,
               "brand_youtube": .04},
    "info": {"info": .45, "home": .40, "search": .05, "product": .05, "signin": .05},
    "other": {"other": .30, "home": .45, "product": .15, "apparel_men": .10},
}
# A visitor who stays on a cluster sees the same page again this often (a reload, back
# button or a filter that keeps the URL), else another page of it: a guess that, with the
# moves above, gives ~45% of hits repeating the previous page (sample: ~50%) while keeping
# sessions varied (a median of 4 pages once repeats are collapsed; sample: 5).
SAME_PAGE = .55

# Traffic (sample): direct 35%, social 23%, organic 21%, referral 18%, paid 3%.
CHANNELS = {"Direct": .35, "Social": .23, "Organic Search": .21, "Referral": .18,
            "Paid Search": .015, "Display": .008, "Affiliates": .007}
DEVICES = {"desktop": .83, "mobile": .15, "tablet": .03}
# A few countries, weighted like the sample's top ones (a rough guess).
COUNTRIES = {"United States": .45, "India": .08, "United Kingdom": .06, "Canada": .05,
             "Germany": .04, "Japan": .04, "Brazil": .03, "France": .03, "Vietnam": .03,
             "Australia": .02}

BOUNCE_RATE = .49
# Deepest checkout step of multi-page sessions. Sample: 872 multi-page sessions, of which
# cart 166, your info 44, payment 54, review 36, confirmation 34; your info is skipped by
# about a fifth of buyers (saved details), so 1 session stops there.
FUNNEL_DEPTH = {"none": 706, "cart": 111, "checkout_your_info": 1, "checkout_payment": 18,
                "checkout_review": 2, "checkout_confirmation": 34}
YOUR_INFO_SHARE = .8   # of sessions going past it
SIGNIN_IN_CHECKOUT = .6  # a guess; guests check out without signing in
# Pages browsed before the checkout: 1 + a lognormal count; chosen so that multi-page
# sessions have a median of ~7 hits and a mean of ~14 (sample).
BROWSE_MEDIAN = 5.5
BROWSE_SIGMA = 1.3
MAX_BROWSE = 500
# Seconds on a page (tens of seconds; a repeat of the same page is quicker).
DWELL_MEDIAN_S, REPEAT_DWELL_MEDIAN_S, DWELL_SIGMA, MAX_DWELL_S = 30.0, 12.0, 1.0, 900.0
# Order revenue in dollars: GA's page value of the confirmation page was $160.73.
REVENUE_MEDIAN, REVENUE_SIGMA = 135.0, .6
