"""Which role this server process holds: the learner, or a follower.

Every process routes and takes feedback. The learner, one at a time (``storage.leader``),
also joins rewards, writes snapshots and runs experiment checks and retention; followers learn
the joined rewards from the log in the same order, so their pmfs match the learner's, and take
the role over when the learner's session ends.
"""

from __future__ import annotations

import logging
from typing import Literal

from api.runtime.periodic import PeriodicJob
from storage.leader import LearnerLease

__all__ = ["Role", "RoleKeeper"]

_log = logging.getLogger(__name__)

Role = Literal["learner", "follower"]


class RoleKeeper(PeriodicJob):
    """Asks for the learner role every ``seconds`` (and checks it is still held)."""

    task_name = "role-keeper"

    def __init__(self, lease: LearnerLease, *, seconds: float) -> None:
        super().__init__(seconds=seconds)
        self._lease = lease
        self._learner = False
        #: Why the last check failed; None once one succeeds (``/v1/status``).
        self.last_error: str | None = None

    @property
    def role(self) -> Role:
        return "learner" if self._learner else "follower"

    def is_learner(self) -> bool:
        return self._learner

    async def check(self) -> Role:
        """Take or keep the role now (also run every ``seconds`` once started)."""
        await self._round()
        return self.role

    async def close(self) -> None:
        await super().close()
        await self._lease.release()
        self._learner = False

    async def _round(self) -> None:
        try:
            held = await self._lease.hold()
        except Exception:
            # The database is out of reach: it cannot tell who leads, so stop leading.
            self._set(learner=False)
            raise
        self._set(learner=held)

    def _set(self, *, learner: bool) -> None:
        if learner == self._learner:
            return
        self._learner = learner
        _log.warning("this process is now the %s", self.role)

    def _round_failed(self, error: str) -> None:
        self.last_error = f"The learner-role check failed: {error}"

    def _round_succeeded(self) -> None:
        self.last_error = None
