"""Reviews: the queue of sampled decisions and the answers applications post for them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.judging import JudgeService
from bandit.errors import ConflictError, NotFoundError
from domain import DecisionRecord
from storage.decisions import decision_policy, find_decision
from storage.reviews import ReviewItem, review_queue, store_response
from storage.writer import GroupCommitter

__all__ = ["ReviewItem", "ReviewService", "StoredResponse"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    decision_id: str
    length: int
    stored_at: float
    created: bool


class ReviewService:
    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        clock: Clock,
        *,
        judging: JudgeService | None = None,
    ) -> None:
        """``judging``: grades a posted answer when its decision is in the judge's sample."""
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock
        self._judging = judging

    async def queue(self, policy: str, *, reviewer: str | None, limit: int) -> Sequence[ReviewItem]:
        self._catalog.policy(policy)  # 404 for an unknown policy
        async with self._engine.connect() as connection:
            return await review_queue(connection, policy=policy, reviewer=reviewer, limit=limit)

    async def post_response(self, decision_id: str, policy: str, text: str) -> StoredResponse:
        """Store the model's answer for reviewers; only policies that store prompts keep
        answers (an answer holds as much of the user's text as a prompt does)."""
        if not self._catalog.policy(policy).config.store_prompts:
            raise ConflictError(
                f"Policy {policy!r} does not store prompts, so it does not store answers "
                f"either: the answer to decision {decision_id!r} was not kept. Set "
                "store_prompts: true on the policy to review prompts and answers."
            )
        now = self._clock()

        async def store(connection: AsyncConnection) -> tuple[float, bool]:
            return await store_response(connection, decision_id=decision_id, text=text, now=now)

        stored_at, created = await self._committer.run(store)
        if created and self._judging is not None:
            async with self._engine.connect() as connection:
                decision = await find_decision(connection, decision_id=decision_id)
            if decision is not None:
                self._judging.offer(decision, decision.prompt or "", text)
        return StoredResponse(decision_id, len(text), stored_at, created)

    async def keep_answer(self, decision: DecisionRecord, text: str) -> None:
        """Keep the answer the proxy served, when the policy stores prompts. An answer already
        posted stays; a failure to keep it is logged (the client has its answer)."""
        policy = self._catalog.policies.get(decision.policy)
        if policy is None or not policy.config.store_prompts:
            return
        now = self._clock()

        async def store(connection: AsyncConnection) -> None:
            with contextlib.suppress(ConflictError):
                await store_response(connection, decision_id=decision.id, text=text, now=now)

        try:
            await self._committer.run(store)
        except Exception:
            _log.exception("could not keep the answer to decision %s", decision.id)

    async def decision_policy(self, decision_id: str) -> str:
        async with self._engine.connect() as connection:
            policy = await decision_policy(connection, decision_id=decision_id)
        if policy is None:
            raise NotFoundError(f"Decision {decision_id!r} does not exist.")
        return policy
