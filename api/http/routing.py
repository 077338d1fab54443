"""What applications call: route, feedback, and reading a decision back."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.access import access, caller_key, require_policy
from api.http.convert import (
    constraints_in,
    decision_out,
    escalation_in,
    feedback_in,
    feedback_out,
    route_out,
)
from api.http.examples import body_examples, path_example
from api.http.request_log import note_decision
from api.service.router import RouteRequest, RouterService
from bandit.errors import InvalidInputError, NotFoundError
from domain import ApiKey

__all__ = ["RoutingController"]

#: Route bodies above this size get a 413 (prompts beyond it are not routing material).
MAX_ROUTE_BODY = 256 * 1024


class RoutingController(Controller):
    path = "/v1"
    tags = ["routing"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/route",
        status_code=HTTP_200_OK,
        request_max_body_size=MAX_ROUTE_BODY,
        **access("route", body=True, errors=(404, 409)),
    )
    async def route(
        self,
        data: JSONBody[Annotated[schemas.RouteIn, body_examples("route")]],
        router: NamedDependency[RouterService],
        request: Request[Any, Any, Any],
    ) -> schemas.RouteOut:
        """Choose the model that should answer a request; the decision is logged first.

        Only models that meet the policy's, the request's and the key's constraints are
        eligible; with none, a 422 names each model's exclusion.
        """
        # The hot paths take one dependency: Litestar resolves two or more in an anyio task
        # group, which cost about a sixth of a route's handling.
        caller = caller_key(request)
        require_policy(caller, data.policy)
        _require_own_id(caller, data.policy, data.decision_id)
        decision = await router.route(
            RouteRequest(
                policy=data.policy,
                prompt=data.prompt,
                features=data.features,
                candidates=None if data.candidates is None else tuple(data.candidates),
                decision_id=data.decision_id,
                unit_id=data.unit_id,
                constraints=constraints_in(data.max_cost_usd, data.max_latency_ms, data.require),
                allowed_models=caller.models,
                fallback_of=data.fallback_of,
                escalate=None if data.escalate is None else escalation_in(data.escalate),
                session_id=data.session_id,
            )
        )
        note_decision(request, decision_id=decision.id, policy=decision.policy)
        return route_out(decision, router.cascade_step(decision))

    @post(
        "/feedback",
        request_max_body_size=64 * 1024,
        **access(
            "feedback",
            "review",
            body=True,
            errors=(404, 409),
            also={
                200: ResponseSpec(
                    schemas.FeedbackOut, description="A retry of earlier feedback (same key)."
                )
            },
        ),
    )
    async def feedback(
        self,
        data: JSONBody[Annotated[schemas.FeedbackIn, body_examples("feedback")]],
        router: NamedDependency[RouterService],
        request: Request[Any, Any, Any],
    ) -> Response[schemas.FeedbackOut]:
        """Record a score, cost, latency or error for a decision (idempotent by key)."""
        caller = caller_key(request)  # not a dependency: see ``route``
        if not caller.unlimited:
            _require_decision(
                caller, data.decision_id, await router.decision_policy(data.decision_id)
            )
        stored = await router.feedback(feedback_in(data))
        note_decision(request, decision_id=stored.decision_id, policy=stored.policy)
        status = HTTP_201_CREATED if stored.created else HTTP_200_OK
        return Response(feedback_out(stored), status_code=status)

    @get("/decisions/{decision_id:str}", **access("read", "review", errors=(404,)))
    async def decision(
        self,
        decision_id: FromPath[Annotated[str, path_example("decision_id")]],
        router: NamedDependency[RouterService],
        caller: NamedDependency[ApiKey],
        request: Request[Any, Any, Any],
    ) -> schemas.DecisionOut:
        """A decision with its full pmf, its feedback and its joined reward."""
        decision = await router.decision(decision_id)
        _require_decision(caller, decision_id, decision.policy)
        note_decision(request, decision_id=decision.id, policy=decision.policy)
        return decision_out(decision)


def _require_decision(caller: ApiKey, decision_id: str, policy: str) -> None:
    """Another tenant's decision answers exactly like one that does not exist."""
    if not caller.may_use(policy):
        raise NotFoundError(f"Decision {decision_id!r} does not exist.")


def _require_own_id(caller: ApiKey, policy: str, decision_id: str | None) -> None:
    """A key limited to some policies chooses decision ids in its policy's own namespace
    (``<policy>:...``): an id is global, and answering 409 for one another tenant already
    used would tell that it exists."""
    if decision_id is None or caller.policies is None or decision_id.startswith(f"{policy}:"):
        return
    raise InvalidInputError(
        f"A key limited to some policies chooses decision ids that start with '{policy}:' "
        f"(for example '{policy}:{decision_id}'), or lets the router choose; got "
        f"{decision_id!r}."
    )
