"""The worker's web views (Faust's web server, bound to PAGEPILOT_WEB_HOST)."""

from stream.agents import clusters, learner, windows
from stream.app import app
from stream.learning.cluster import MODEL_NAMES
from stream.learning.prequential import Score


@app.page("/api/scores/")
async def scores(web, request):
    """Prequential scores of each model: totals over this worker's clusters, and the
    window of the most recent events this worker learned."""
    totals = {name: Score() for name in MODEL_NAMES}
    for data in clusters.values():
        row = learner.new_row(data)
        for name, score in row.scores.items():
            totals[name] += score
    return web.json({name: {"total": totals[name].as_dict(),
                            "window": windows[name].recent.as_dict()} for name in MODEL_NAMES})
