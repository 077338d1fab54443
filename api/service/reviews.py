"""Reviews: the queue of sampled decisions and the answers applications post for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from bandit.errors import ConflictError, NotFoundError
from storage.decisions import decision_policy
from storage.reviews import ReviewItem, review_queue, store_response
from storage.writer import GroupCommitter

__all__ = ["ReviewItem", "ReviewService", "StoredResponse"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    decision_id: str
    length: int
    stored_at: float
    created: bool


class ReviewService:
    def __init__(
        self, engine: AsyncEngine, committer: GroupCommitter, catalog: Catalog, clock: Clock
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock

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
        return StoredResponse(decision_id, len(text), stored_at, created)

    async def decision_policy(self, decision_id: str) -> str:
        async with self._engine.connect() as connection:
            policy = await decision_policy(connection, decision_id=decision_id)
        if policy is None:
            raise NotFoundError(f"Decision {decision_id!r} does not exist.")
        return policy
