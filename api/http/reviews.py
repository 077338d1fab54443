"""What reviewers and applications call for reviews: the queue, and posting an answer."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.access import access, require_policy
from api.http.convert import conversation_out
from api.http.examples import path_example
from api.service.reviews import ReviewItem, ReviewService
from bandit.errors import InvalidInputError, NotFoundError
from domain import ApiKey

__all__ = ["ReviewController"]

#: Most queue items in one answer.
MAX_QUEUE = 500
#: A posted answer of at most ``MAX_RESPONSE_CHARS`` characters, JSON-escaped, fits.
MAX_RESPONSE_BODY = 8 * schemas.MAX_RESPONSE_CHARS


class ReviewController(Controller):
    path = "/v1"
    tags = ["reviews"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/review/queue", **access("review", errors=(404, 422)))
    async def queue(
        self,
        policy: FromQuery[str],
        caller: NamedDependency[ApiKey],
        reviews: NamedDependency[ReviewService],
        reviewer: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> schemas.ReviewQueueOut:
        """Decisions sampled for review that no reviewer scored yet, oldest first; with
        ``reviewer``, those this reviewer has not scored (several reviewers may score one
        decision, which is how their agreement is measured)."""
        require_policy(caller, policy)
        if not 1 <= limit <= MAX_QUEUE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_QUEUE}, got {limit}.")
        if reviewer is not None and not 1 <= len(reviewer) <= 128:
            raise InvalidInputError(
                f"reviewer must be 1 to 128 characters long, got {len(reviewer)}."
            )
        items = await reviews.queue(policy, reviewer=reviewer, limit=limit)
        return schemas.ReviewQueueOut(policy=policy, items=[_item(item) for item in items])

    @post(
        "/decisions/{decision_id:str}/response",
        request_max_body_size=MAX_RESPONSE_BODY,
        **access(
            "route",
            body=True,
            errors=(404, 409),
            also={
                200: ResponseSpec(
                    schemas.ResponseOut, description="The same answer was already stored."
                )
            },
        ),
    )
    async def response(
        self,
        decision_id: FromPath[Annotated[str, path_example("decision_id")]],
        data: JSONBody[schemas.ResponseIn],
        caller: NamedDependency[ApiKey],
        reviews: NamedDependency[ReviewService],
    ) -> Response[schemas.ResponseOut]:
        """Post the model's answer to a routed request, for reviewers to read beside the
        prompt. Kept only when the policy stores prompts (409 otherwise); the first answer
        stays (the same text again: 200; a different one: 409)."""
        policy = await reviews.decision_policy(decision_id)
        if not caller.may_use(policy):
            raise NotFoundError(f"Decision {decision_id!r} does not exist.")
        stored = await reviews.post_response(decision_id, policy, data.text)
        return Response(
            schemas.ResponseOut(
                decision_id=stored.decision_id, length=stored.length, stored_at=stored.stored_at
            ),
            status_code=HTTP_201_CREATED if stored.created else HTTP_200_OK,
        )


def _item(item: ReviewItem) -> schemas.ReviewItemOut:
    decision = item.decision
    return schemas.ReviewItemOut(
        decision_id=decision.id,
        policy=decision.policy,
        model=decision.chosen_model,
        review_probability=decision.review_probability or 0.0,
        created_at=decision.created_at,
        candidates=[arm.id for arm in decision.arms],
        features=dict(decision.caller_features),
        prompt=decision.prompt,
        response=decision.response,
        reviews=item.reviews,
        conversation=conversation_out(decision.conversation),
    )
