"""Background work in child processes yields the CPU to the routes waiting on the same cores."""

from __future__ import annotations

import os

__all__ = ["CHILD_NICENESS", "yield_the_cpu"]

#: Niceness of a background child where ``SCHED_IDLE`` is not available.
CHILD_NICENESS = 19


def yield_the_cpu() -> None:
    """Make the calling process the work that waits: ``SCHED_IDLE`` runs it only on CPU time
    nothing else wants, and a waking route preempts it at once (a niceness of 10 still left
    route p99 at 3-8x idle on two cores); where that policy is missing, a high niceness is the
    next best thing."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(CHILD_NICENESS)
