"""``/health`` and ``GET /v1/status``."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import Struct

__all__ = ["HealthOut", "LangfuseStatusOut", "StatusOut"]


class HealthOut(Struct):
    """Nothing more than ok or degraded: details are for ``GET /v1/status`` (a read key)."""

    status: Literal["ok", "degraded"]


class LangfuseStatusOut(Struct):
    #: Decisions and feedback waiting for export.
    queued: int
    #: Handed to the Langfuse SDK and flushed.
    exported: int
    #: Dropped because the export queue was full (Langfuse slow or down); router data is
    #: never lost with them.
    dropped: int
    #: Refused by the SDK.
    failed: int
    #: Langfuse scores recorded as feedback (first import; repeats are not counted).
    scores_imported: int
    #: Scores left out: on traces the router did not name, the router's own, with no
    #: source mapping, or numeric without a score config and outside [0, 1].
    scores_skipped: int
    #: Polls of the scores API that failed.
    poll_failures: int
    #: The last poll's error, if it failed.
    last_poll_error: str | None
    #: Sampled decisions added to their policy's annotation queue.
    review_items_added: int = 0
    #: Rounds of adding to annotation queues that failed.
    review_failures: int = 0
    #: The last round's error, if it failed.
    last_review_error: str | None = None


class StatusOut(Struct):
    status: Literal["ok", "degraded"]
    database: str
    policies: int
    #: Why the status is degraded (empty when ok).
    problems: list[str]
    #: Export and import counts; null when Langfuse is off.
    langfuse: LangfuseStatusOut | None = None
    #: ``learner``: this process joins rewards, writes snapshots and runs experiment checks
    #: (one process at a time); ``follower``: it routes and learns the joined rewards.
    role: Literal["learner", "follower"] = "learner"
    #: Interactions this process's learners hold (their live revisions), in all and per policy.
    learned_interactions: int = 0
    learned_by_policy: dict[str, int] = msgspec.field(default_factory=dict)
    #: What works but learns less than it could, per policy the key may use: a policy whose
    #: traffic has no quality signal at all, say.
    warnings: list[str] = msgspec.field(default_factory=list)
