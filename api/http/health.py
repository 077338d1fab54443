"""Liveness (open) and the service's status (a ``read`` key)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from api.http.access import access, public
from api.http.schemas import HealthOut, LangfuseStatusOut, StatusOut
from api.integrations.langfuse_link import LangfuseLink
from api.service.catalog import Catalog
from api.service.health import ServiceHealth
from api.service.judging import JudgeService
from api.service.prompt_key import PromptKey
from api.service.roles import RoleKeeper
from domain import ApiKey

__all__ = ["health", "status"]


@get("/health", tags=["health"], opt=public())
async def health(service_health: NamedDependency[ServiceHealth]) -> HealthOut:
    """Always 200: ``ok``, or ``degraded`` when the database does not answer or learning
    fails. Open to everybody, so it says nothing more; details are in ``GET /v1/status``."""
    problems = await service_health.problems()
    return HealthOut(status="degraded" if problems else "ok")


@get("/v1/status", tags=["health"], **access("read"))
async def status(
    service_health: NamedDependency[ServiceHealth],
    catalog: NamedDependency[Catalog],
    langfuse: NamedDependency[LangfuseLink | None],
    roles: NamedDependency[RoleKeeper],
    judging: NamedDependency[JudgeService],
    caller: NamedDependency[ApiKey],
    prompt_key: NamedDependency[PromptKey],
) -> StatusOut:
    """The service's health with its reasons, this process's role and what it learned, and
    what Langfuse export dropped."""
    problems = await service_health.all_problems()
    # A key limited to some policies sees theirs only: not even the others' names.
    learned = {
        name: count
        for name, count in service_health.learned_by_policy().items()
        if caller.may_use(name)
    }
    return StatusOut(
        status="degraded" if problems else "ok",
        database=service_health.database,
        policies=sum(1 for name in catalog.policies if caller.may_use(name)),
        problems=problems,
        langfuse=None if langfuse is None else _langfuse_status(langfuse),
        role=roles.role,
        learned_interactions=sum(learned.values()),
        learned_by_policy=learned,
        warnings=await _warnings(catalog, judging, caller, prompt_key),
    )


async def _warnings(
    catalog: Catalog, judging: JudgeService, caller: ApiKey, prompt_key: PromptKey
) -> list[str]:
    warnings = [] if prompt_key.warning is None else [prompt_key.warning]
    for name in sorted(catalog.policies):
        if caller.may_use(name):
            # Counted at most every few seconds per policy: a status poll over many policies
            # must not count an hour of decisions for each of them every time.
            quality = await judging.quality(name)
            if quality.warning is not None:
                warnings.append(f"Policy {name!r}: {quality.warning}")
    return warnings


def _langfuse_status(link: LangfuseLink) -> LangfuseStatusOut:
    exported = link.exporter.counts()
    imported = None if link.poller is None else link.poller.counts()
    fed = None if link.feeder is None else link.feeder.counts()
    return LangfuseStatusOut(
        queued=exported.queued,
        exported=exported.exported,
        dropped=exported.dropped,
        failed=exported.failed,
        scores_imported=0 if imported is None else imported.imported,
        scores_skipped=0 if imported is None else imported.skipped,
        poll_failures=0 if imported is None else imported.failures,
        last_poll_error=None if imported is None else imported.last_error,
        review_items_added=0 if fed is None else fed.added,
        review_failures=0 if fed is None else fed.failures,
        last_review_error=None if fed is None else fed.last_error,
    )
