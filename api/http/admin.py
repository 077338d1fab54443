"""What operators call: models and policies."""

from __future__ import annotations

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.convert import model_out, model_spec, policy_config, policy_out
from api.service.admin import AdminService
from api.service.catalog import Catalog
from api.service.learning import LearningHost
from bandit.errors import InvalidInputError
from storage.records import PolicyRecord

__all__ = ["ModelController", "PolicyController"]


class ModelController(Controller):
    path = "/v1/models"
    tags = ["models"]  # noqa: RUF012

    @put("/{model_id:str}")
    async def put_model(
        self,
        model_id: FromPath[str],
        data: JSONBody[schemas.ModelIn],
        admin: NamedDependency[AdminService],
    ) -> Response[schemas.ModelOut]:
        """Create or replace a model (prices in USD per million tokens)."""
        model = model_spec(_identifier("model", model_id), data)
        created = await admin.put_model(model)
        return Response(model_out(model), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/")
    async def list_models(self, catalog: NamedDependency[Catalog]) -> list[schemas.ModelOut]:
        return [model_out(m) for _, m in sorted(catalog.models.items())]

    @get("/{model_id:str}")
    async def get_model(
        self, model_id: FromPath[str], catalog: NamedDependency[Catalog]
    ) -> schemas.ModelOut:
        return model_out(catalog.model(model_id))


class PolicyController(Controller):
    path = "/v1/policies"
    tags = ["policies"]  # noqa: RUF012

    @put("/{name:str}")
    async def put_policy(
        self,
        name: FromPath[str],
        data: JSONBody[schemas.PolicyIn],
        admin: NamedDependency[AdminService],
        learning: NamedDependency[LearningHost],
    ) -> Response[schemas.PolicyOut]:
        """Create or replace a policy; every call is a new revision (learner rebuilt from log)."""
        record = await admin.put_policy(_identifier("policy", name), policy_config(data))
        status = HTTP_201_CREATED if record.revision == 1 else HTTP_200_OK
        return Response(await _policy_out(record, learning), status_code=status)

    @get("/")
    async def list_policies(
        self, catalog: NamedDependency[Catalog], learning: NamedDependency[LearningHost]
    ) -> list[schemas.PolicyOut]:
        return [
            await _policy_out(record, learning) for _, record in sorted(catalog.policies.items())
        ]

    @get("/{name:str}")
    async def get_policy(
        self,
        name: FromPath[str],
        catalog: NamedDependency[Catalog],
        learning: NamedDependency[LearningHost],
    ) -> schemas.PolicyOut:
        return await _policy_out(catalog.policy(name), learning)


async def _policy_out(record: PolicyRecord, learning: LearningHost) -> schemas.PolicyOut:
    return policy_out(record, learning.learner(record.name), await learning.status(record.name))


def _identifier(kind: str, value: str) -> str:
    if not value or len(value) > 128 or any(c.isspace() or c == "/" for c in value):
        raise InvalidInputError(
            f"A {kind} id must be 1-128 characters without whitespace or '/', got {value!r}."
        )
    return value
