"""What operators call: models and policies."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.access import access, require_policy
from api.http.convert import model_out, model_spec, policy_config, policy_out
from api.http.examples import body_examples, path_example
from api.service.admin import AdminService
from api.service.catalog import Catalog
from api.service.judging import JudgeService
from api.service.learners import LearnerRegistry
from api.service.model_health import ModelHealth
from bandit.errors import ForbiddenError, InvalidInputError
from domain import ApiKey, PolicyRecord

__all__ = ["ModelController", "PolicyController"]


class ModelController(Controller):
    path = "/v1/models"
    tags = ["models"]  # noqa: RUF012

    @put(
        "/{model_id:str}",
        **access(
            "admin",
            body=True,
            also={201: ResponseSpec(schemas.ModelOut, description="The model was created.")},
        ),
    )
    async def put_model(
        self,
        model_id: FromPath[Annotated[str, path_example("model_id")]],
        data: JSONBody[Annotated[schemas.ModelIn, body_examples("model")]],
        admin: NamedDependency[AdminService],
        caller: NamedDependency[ApiKey],
    ) -> Response[schemas.ModelOut]:
        """Create or replace a model (prices in USD per million tokens)."""
        if not caller.unlimited:
            raise ForbiddenError(
                f"API key {caller.name!r} is limited to policies; the model catalog is shared "
                "by every policy, so only an admin key for every policy may change it."
            )
        model = model_spec(_identifier("model", model_id), data)
        created = await admin.put_model(model, actor=caller.id)
        return Response(model_out(model), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", **access("read"))
    async def list_models(self, catalog: NamedDependency[Catalog]) -> list[schemas.ModelOut]:
        return [model_out(m) for _, m in sorted(catalog.models.items())]

    @get("/{model_id:str}", **access("read", errors=(404,)))
    async def get_model(
        self,
        model_id: FromPath[Annotated[str, path_example("model_id")]],
        catalog: NamedDependency[Catalog],
    ) -> schemas.ModelOut:
        return model_out(catalog.model(model_id))


class PolicyController(Controller):
    path = "/v1/policies"
    tags = ["policies"]  # noqa: RUF012

    @put(
        "/{name:str}",
        **access(
            "admin",
            body=True,
            errors=(404, 409),
            also={201: ResponseSpec(schemas.PolicyOut, description="The policy was created.")},
        ),
    )
    async def put_policy(
        self,
        name: FromPath[Annotated[str, path_example("name")]],
        data: JSONBody[Annotated[schemas.PolicyIn, body_examples("policy")]],
        admin: NamedDependency[AdminService],
        learners: NamedDependency[LearnerRegistry],
        model_health: NamedDependency[ModelHealth],
        judging: NamedDependency[JudgeService],
        caller: NamedDependency[ApiKey],
    ) -> Response[schemas.PolicyOut]:
        """Create or replace a policy; every call is a new revision (learner rebuilt from log)."""
        require_policy(caller, name)
        record = await admin.put_policy(
            _identifier("policy", name), policy_config(data), actor=caller.id
        )
        status = HTTP_201_CREATED if record.revision == 1 else HTTP_200_OK
        return Response(
            await _policy_out(record, learners, model_health, judging), status_code=status
        )

    @get("/", **access("read"))
    async def list_policies(
        self,
        catalog: NamedDependency[Catalog],
        learners: NamedDependency[LearnerRegistry],
        model_health: NamedDependency[ModelHealth],
        judging: NamedDependency[JudgeService],
        caller: NamedDependency[ApiKey],
    ) -> list[schemas.PolicyOut]:
        """The policies this key may see."""
        return [
            await _policy_out(record, learners, model_health, judging)
            for name, record in sorted(catalog.policies.items())
            if caller.may_use(name)
        ]

    @get("/{name:str}", **access("read", errors=(404,)))
    async def get_policy(
        self,
        name: FromPath[Annotated[str, path_example("name")]],
        catalog: NamedDependency[Catalog],
        learners: NamedDependency[LearnerRegistry],
        model_health: NamedDependency[ModelHealth],
        judging: NamedDependency[JudgeService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.PolicyOut:
        require_policy(caller, name)
        return await _policy_out(catalog.policy(name), learners, model_health, judging, fresh=True)


async def _policy_out(
    record: PolicyRecord,
    learners: LearnerRegistry,
    model_health: ModelHealth,
    judging: JudgeService,
    *,
    fresh: bool = False,
) -> schemas.PolicyOut:
    return policy_out(
        record,
        await learners.status(record.name),
        model_health.cooldowns(record.name),
        await judging.quality(record.name, fresh=fresh),
    )


def _identifier(kind: str, value: str) -> str:
    if not value or len(value) > 128 or any(c.isspace() or c == "/" for c in value):
        raise InvalidInputError(
            f"A {kind} id must be 1-128 characters without whitespace or '/', got {value!r}."
        )
    return value
