"""Records of an experiment for the tests of its renderings (watch, the dashboard)."""


def outcome(variant, followed, opens, revenue=0.0, epsilon=0.0, counterfactuals=None):
    """A served recommendation's outcome (stream.core.outcomes) with only what is asked."""
    return {"variant": variant, "epsilon": epsilon, "next": "bags" if followed else "home",
            "items": [{"cluster": "bags", "propensity": 0.5 if epsilon else 1.0}],
            "followed": followed, "revenue_after": revenue, "opens_session": opens,
            "session_revenue": revenue, "counterfactuals": counterfactuals or {},
            "expected": {}}


def served(metrics, variant, session_id, sequence):
    """Count a recommendation of ``variant`` in a WorkerMetrics."""
    metrics.recommended({"session_id": session_id, "event_id": f"{session_id}-{sequence}",
                         "sequence": sequence, "variant": variant, "explored": False,
                         "cluster": "home", "cold": False, "fallback": None, "items": [],
                         "ingest_time": 0, "publish_time": 1})
