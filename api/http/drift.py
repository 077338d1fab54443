"""What data scientists and operators call: how a live policy drifts, bucket by bucket."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from api.http import schemas
from api.http.access import access, require_policy
from api.http.disconnect import unless_disconnected
from api.http.export import parse_time
from api.service.drift import DriftQuery, DriftService
from domain import ApiKey

__all__ = ["DriftController"]


class DriftController(Controller):
    path = "/v1/policies"
    tags = ["inspection"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/{name:str}/drift", **access("read", errors=(404, 422, 503)))
    async def drift(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        caller: NamedDependency[ApiKey],
        drift: NamedDependency[DriftService],
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        bucket_seconds: FromQuery[float] = 3600.0,
        success_threshold: FromQuery[float] = 0.7,
        psi_threshold: FromQuery[float] = 0.2,
        group_by: FromQuery[str | None] = "task",
    ) -> schemas.DriftOut:
        """Per time bucket: decisions, model shares, reward, quality, cost, latency, feedback
        rate and delay, policy versions and feature shift (PSI) against the first bucket; KPIs
        per policy and per value of the caller feature ``group_by``; flags for significant
        reward drops and feature shifts; the change of the pmf between stored snapshots.

        ``since``/``until`` are epoch seconds or ISO 8601; ``group_by=`` (empty) turns grouping
        off. At most ``max_decisions`` decisions are read, the oldest first (``truncated``).
        Computed in a worker process; at most a few reports run at once (503 with
        ``Retry-After`` beyond that), and a report whose client disconnects is abandoned.
        """
        require_policy(caller, name)
        query = DriftQuery(
            since=None if since is None else parse_time("since", since),
            until=None if until is None else parse_time("until", until),
            bucket_seconds=bucket_seconds,
            success_threshold=success_threshold,
            psi_threshold=psi_threshold,
            group_by=group_by or None,
        )
        report = await unless_disconnected(request.receive, drift.drift(name, query))
        # The report's dataclasses map field by field onto the wire structs (tuples to lists).
        return msgspec.convert(report, schemas.DriftOut, from_attributes=True)
