"""The terminal view renders the merged figures; visitor text is shown, never interpreted."""

from rich.console import Console

from consumers.watch import render
from stream.worker.metrics import WorkerMetrics, merge


def test_frame_shows_flow_accuracy_lag_clusters_and_recent_recommendations():
    metrics = WorkerMetrics("w1")
    for n in range(3):
        metrics.received()
        metrics.recommended({"session_id": "[red]evil[/red]", "event_id": f"e{n}",
                             "sequence": n + 1, "variant": "default", "explored": False,
                             "cluster": "home", "cold": False, "fallback": None,
                             "items": [{"cluster": "cart", "score": 1.0, "probability": 0.25,
                                        "q": 3.0, "page_value": 1.0}],
                             "ingest_time": 1000, "publish_time": 1042})
    merged = merge([metrics.snapshot({"lag": {"pageviews": {"0": 12, "1": 0}}})])
    merged["values"] = {"mean_q": 12.5, "mean_page_value": 3.25, "clusters_visited": 2}
    network = {"nodes": [{"cluster": "home", "visitors": 3, "page_value": 1.0, "value": 2.0,
                          "exit_rate": 0.1, "recommended": "cart"}], "edges": []}
    console = Console(record=True, width=140)
    console.print(render(merged, network))
    text = console.export_text()
    assert "1 worker(s)" in text
    assert "page views in" in text and "recommendations out" in text
    assert "40 / 49 / 50" in text  # three 42 ms answers, interpolated in the 30-50 ms bucket
    assert "12.5 / 3.25" in text
    assert "river" in text and "markov" in text and "popular" in text
    assert "│ pageviews │ 12 │  0 │" in text
    assert "[red]evil[/red]" in text  # markup in visitor data is printed as it is
    assert "cart (0.25)" in text
