"""What happened after each served recommendation: the log off-policy evaluation needs.

A shard keeps, per open session, a *draft* of every recommendation it served: what was
shown with its propensities, what the other variants would have shown (with the
probability that the served variant shows each of their items: its *logging
propensity*) and the reward model's expectation for every item. The session's next page
view completes the last draft (which cluster came next, whether it was recommended, the
page value reached); the revenue of the rest of the session is what the session took in
after a draft was written. When
the session ends, each draft becomes an **outcome** (:meth:`SessionOutcomes.close`), named
by its page view's event id; the outcomes of a session go to the outcomes topic in one
message (:func:`session_message`, key: the session id), since one message per outcome
doubled what the worker produces per page view (docs/experiments.md).

All of it is a function of the session's page views and of what was served, so a page
view processed again after a crash completes the same drafts (the shard ignores input
offsets it applied before).

>>> outcomes = SessionOutcomes()
>>> outcomes.viewed("s", "home", revenue=0.0, page_value=0.0)
>>> outcomes.served("s", {"event_id": "s-1", "sequence": 1, "variant": "default",
...                       "epsilon": 0.0, "cluster": "home",
...                       "items": [{"cluster": "bags", "propensity": 1.0}],
...                       "counterfactuals": {}, "expected": {}})
>>> outcomes.viewed("s", "bags", revenue=0.0, page_value=12.5)
>>> outcomes.viewed("s", "cart", revenue=30.0, page_value=40.0)
>>> [(o["event_id"], o["next"], o["followed"], o["value_reached"], o["revenue_after"],
...   o["session_revenue"]) for o in outcomes.close("s", closed_time=0)]
[('s-1', 'bags', True, 12.5, 30.0, 30.0)]
"""

from __future__ import annotations

from stream.core.models import EXIT

DRAFT_FIELDS = ("event_id", "sequence", "variant", "epsilon", "cluster", "items",
                "counterfactuals", "expected")


class SessionOutcomes:
    """The drafts of a shard's open sessions (JSON values, checkpointed with the shard)."""

    def __init__(self):
        self.open: dict[str, dict] = {}  # session id -> {"revenue": float, "drafts": [...]}

    def viewed(self, session_id: str, cluster: str, revenue: float, page_value: float) -> None:
        """A page view of the session: it completes the last draft and adds its revenue
        to the session's."""
        session = self.open.setdefault(session_id, {"revenue": 0.0, "drafts": []})
        session["revenue"] += revenue
        drafts = session["drafts"]
        if drafts and drafts[-1]["next"] is None:
            drafts[-1].update(next=cluster, value_reached=page_value)

    def served(self, session_id: str, draft: dict) -> None:
        """A recommendation was published for the session's latest page view."""
        session = self.open.setdefault(session_id, {"revenue": 0.0, "drafts": []})
        session["drafts"].append({key: draft[key] for key in DRAFT_FIELDS}
                                 | {"next": None, "value_reached": 0.0,
                                    "revenue_before": session["revenue"]})

    def close(self, session_id: str, closed_time: int) -> list[dict]:
        """The session ended: its outcomes, in the order they were served (the first one
        ``opens_session``: it carries the session's figures for the per-session means)."""
        session = self.open.pop(session_id, None)
        if session is None:
            return []
        total = round(session["revenue"], 6)
        outcomes = []
        for index, draft in enumerate(session["drafts"]):
            reached = draft.pop("next") or EXIT
            shown = {item["cluster"] for item in draft["items"]}
            after = session["revenue"] - draft.pop("revenue_before")  # that counts its own view
            outcomes.append(draft | {
                "session_id": session_id, "next": reached, "followed": reached in shown,
                "revenue_after": round(after, 6),
                "session_revenue": total, "opens_session": index == 0,
                "closed_time": closed_time})
        return outcomes


def outcome_draft(record: dict, epsilon: float, row) -> dict:
    """The draft of a published recommendation ``record`` of a variant exploring at
    ``epsilon``: its shown items and counterfactual lists, and the reward model of every
    item of those lists (DR's) from the cluster's ``row`` (ClusterRow): ``[P(next = a),
    Q(s, a)]``, the Markov probability of going there and the value of the move."""
    shown = [{"cluster": item["cluster"], "propensity": item["propensity"]}
             for item in record["items"]]
    clusters = {item["cluster"] for items in record["counterfactuals"].values()
                for item in items}
    total = row.markov.total
    expected = {c: [round(row.markov.counts.get(c, 0) / total, 6) if total else 0.0,
                    round(row.q.q(c), 6)] for c in sorted(clusters)}
    return {key: record[key] for key in DRAFT_FIELDS if key in record} | {
        "epsilon": epsilon, "items": shown, "expected": expected}


def session_message(outcomes: list[dict]) -> dict:
    """The outcomes topic's message of one ended session (key: its session id)."""
    first = outcomes[0]
    return {"session_id": first["session_id"], "closed_time": first["closed_time"],
            "outcomes": outcomes}


def message_outcomes(data) -> list[dict]:
    """The outcomes of a message of the outcomes topic (ValueError: not such a message)."""
    if not isinstance(data, dict) or not isinstance(data.get("outcomes"), list):
        raise ValueError("not an outcomes message: an object with a list 'outcomes' expected")
    return data["outcomes"]
