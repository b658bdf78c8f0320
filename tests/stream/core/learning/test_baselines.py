"""The field's baselines of ``pagepilot evaluate``: session-kNN votes with the sessions most
like this one, never with itself; sequential rules read the current cluster only."""

from stream.core.learning.baselines import SessionKNN, sequential_rules


def _session(model, session, pages):
    for i in range(1, len(pages)):
        model.learn_one({"history": pages[:i][::-1], "session": session}, pages[i])


def test_session_knn_follows_the_sessions_that_share_the_most():
    knn = SessionKNN(k=1)
    _session(knn, "a", ["home", "bags", "cart"])
    _session(knn, "b", ["home", "shoes", "search"])
    votes = knn.predict_proba_one({"history": ["shoes", "home"], "session": "c"})
    assert set(votes) == {"home", "shoes", "search"}  # b shares two pages, a one
    # a itself is no neighbour: only b votes, through "home", third from the end (1 - 2/10)
    assert knn.predict_proba_one({"history": ["cart", "bags", "home"], "session": "a"}) == {
        "home": 0.8, "shoes": 0.8, "search": 0.8}


def test_sequential_rules_read_only_the_current_cluster():
    rules = sequential_rules()
    _session(rules, "a", ["home", "bags", "cart"])
    assert rules.predict_proba_one({"history": ["bags", "home"]}) == {"cart": 1.0}
    assert set(rules.predict_proba_one({"history": ["home"]})) == {"bags", "cart"}
