"""Reading a partition again when its offset commits have stalled.

Faust drops a message fetched under an older consumer generation (around a rebalance)
without acknowledging it. When the partition stays with this worker and that message is
not fetched again, its offset remains a hole before the acknowledged ones, and no offset of
the partition is committed again (seen after SIGSTOP and SIGCONT of a worker: the fault
suite's scenario c). Every effect of the worker is idempotent, so the cure is to read the
partition again from its committed offset.
"""

from __future__ import annotations

import logging

from stream.app import app

log = logging.getLogger(__name__)
CHECK_S = 5.0
_suspects: dict = {}  # partition -> committed offset seen with a hole behind it


@app.timer(CHECK_S)
async def rewind_stalled_partitions() -> None:
    """Seek back a partition whose first unacknowledged offset stayed the same for a whole
    check interval while later offsets were acknowledged."""
    consumer = app.consumer
    for tp in consumer.assignment():
        # Faust's own bookkeeping (private): the committed offset and the acknowledged
        # offsets not yet committed, which processed in order start at the committed one.
        committed, acked = consumer._committed_offset.get(tp), consumer._acked.get(tp)
        if committed is None or not acked or min(acked) <= committed:
            _suspects.pop(tp, None)
        elif _suspects.get(tp) != committed:
            _suspects[tp] = committed  # look again at the next check
        else:
            log.warning("offset commits of %s stalled at %d (acknowledged from %d): "
                        "reading it again from there", tp, committed, min(acked))
            _suspects.pop(tp, None)
            await consumer.seek(tp, committed)
