"""Restarting the worker in place when offset commits of a partition have stalled.

Faust skips messages around a rebalance (fetched under an older consumer generation, or while
the flow is stopped); our consumer (:mod:`stream.worker.transport`) commits no further than such a
message until it is read again, which the seek to the committed offsets after a rebalance
normally does. When the partition stays with this worker and that message is not fetched
again, its offset remains a hole before the acknowledged ones and no offset of the partition
is committed again (seen after SIGSTOP and SIGCONT of a worker: the fault suite's scenario
c); seeking back within the running consumer does not reliably cure it. Every effect of the
worker is idempotent and a kill -9 is survived by design, so the cure is to start this worker
again, in the same process (same pid, log and command line): it rejoins the group and reads
every partition from its committed offset.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from stream.worker.app import app
from stream.worker.transport import acknowledged_offsets, committed_offsets, hole_at_head

log = logging.getLogger(__name__)
CHECK_S = 5.0
# A commit in flight also shows a hole (Faust takes the offsets it commits out of the
# acknowledged ones before the broker answers, and a commit can take long on a busy
# machine): only a hole that outlives STALL_S and COMMITS completed commits is a stall.
STALL_S = 15.0
COMMITS = 3
_suspects: dict = {}  # partition -> (committed offset with a hole behind it, since, commits)


@app.timer(CHECK_S)
async def restart_when_commits_stall() -> None:
    if app.rebalancing or app.in_recovery:  # Faust seeks to the committed offsets after
        _suspects.clear()
        return
    consumer = app.consumer
    # Faust's own bookkeeping: committed offsets, and the acknowledged offsets not yet
    # committed, which, processed in order, start at the committed one.
    found = stalled(consumer.assignment(), committed_offsets(consumer),
                    acknowledged_offsets(consumer),
                    _suspects, now=time.monotonic(), commits=consumer.commit_rounds)
    if found:
        log.error("offset commits stalled: %s; restarting this worker in place to read "
                  "from the committed offsets", ", ".join(found))
        _restart_in_place()


def stalled(partitions, committed: dict, acked: dict, suspects: dict, now: float,
            commits: int, stall_s: float = STALL_S, min_commits: int = COMMITS) -> list[str]:
    """Partitions whose first unacknowledged offset has stayed the same for ``stall_s`` and
    ``min_commits`` completed commits (``commits`` counts them) while later offsets were
    acknowledged; ``suspects`` carries what was seen to the next call.

    >>> suspects = {}
    >>> stalled(["p"], {"p": 5}, {"p": [7, 8]}, suspects, now=0, commits=0), suspects
    ([], {'p': (5, 0, 0)})
    >>> stalled(["p"], {"p": 5}, {"p": [7, 8, 9]}, suspects, now=40, commits=1)  # in flight?
    []
    >>> stalled(["p"], {"p": 5}, {"p": [7, 8, 9]}, suspects, now=45, commits=3)
    ['p at 5 (acknowledged from 7)']
    >>> stalled(["p"], {"p": 9}, {"p": [9, 10]}, suspects, now=50, commits=4), suspects
    ([], {})
    """
    found = []
    for tp in set(suspects).difference(partitions):  # moved away: its clock starts again
        del suspects[tp]
    for tp in partitions:
        first, done = committed.get(tp), acked.get(tp)
        if not hole_at_head(first, done):
            suspects.pop(tp, None)
            continue
        seen, since, commits_then = suspects.get(tp, (None, now, commits))
        if seen != first:
            suspects[tp] = (first, now, commits)  # a new hole: give it time
        elif now - since >= stall_s and commits - commits_then >= min_commits:
            found.append(f"{tp} at {first} (acknowledged from {min(done)})")
    return found


def _restart_in_place() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, sys.orig_argv)
