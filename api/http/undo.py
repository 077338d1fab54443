"""Undo: list a policy's stored versions, roll back to one, void one feedback."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from api.http import schemas
from api.http.access import access, require_policy
from api.http.convert import feedback_out
from api.service.learners import LearnerRegistry
from api.service.undo import UndoService
from bandit.errors import NotFoundError
from domain import ApiKey

__all__ = ["UndoController"]


class UndoController(Controller):
    path = "/v1"
    tags = ["undo"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/policies/{name:str}/versions", **access("read", errors=(404,)))
    async def versions(
        self,
        name: FromPath[str],
        undo: NamedDependency[UndoService],
        learners: NamedDependency[LearnerRegistry],
        caller: NamedDependency[ApiKey],
    ) -> schemas.VersionsOut:
        """The stored snapshots of a policy's learned state, newest first."""
        require_policy(caller, name)
        stored = await undo.versions(name)
        return schemas.VersionsOut(
            policy=name,
            live_version=learners.learner(name).version,
            versions=[
                schemas.VersionOut(
                    version=s.version,
                    revision=s.revision,
                    learned_count=s.learned_count,
                    high_water_mark=s.high_water_mark,
                    created_at=s.created_at,
                )
                for s in stored
            ],
        )

    @post(
        "/policies/{name:str}/rollback",
        status_code=HTTP_200_OK,
        **access("admin", body=True, errors=(404, 409)),
    )
    async def rollback(
        self,
        name: FromPath[str],
        data: JSONBody[schemas.RollbackIn],
        undo: NamedDependency[UndoService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.RollbackOut:
        """Make a stored version live again, for good: what was learned after it is excluded
        from the policy's learned state and never learned again. 404 for an unknown version,
        409 for a version of an earlier revision."""
        require_policy(caller, name)
        live = await undo.rollback(name, data.version, actor=caller.id)
        return schemas.RollbackOut(
            policy=name,
            restored_version=data.version,
            version=live.version,
            learned_count=live.learner.learned,
            high_water_mark=live.high_water_mark,
        )

    @post(
        "/feedback/{feedback_id:str}/void",
        status_code=HTTP_200_OK,
        **access("admin", body=True, errors=(404,)),
    )
    async def void(
        self,
        feedback_id: FromPath[str],
        data: JSONBody[schemas.VoidIn],
        undo: NamedDependency[UndoService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.VoidOut:
        """Exclude one feedback (kept, flagged with the reason); its decision's reward is
        joined again without it and the learner rebuilt from the log. Idempotent."""
        if not caller.may_use(await undo.feedback_policy(feedback_id)):
            raise NotFoundError(f"Feedback {feedback_id!r} does not exist.")
        result = await undo.void(feedback_id, data.reason, actor=caller.id)
        return schemas.VoidOut(
            feedback=feedback_out(result.outcome.feedback),
            policy=result.outcome.policy,
            version=result.version,
            rebuilt=result.rebuilt,
        )
