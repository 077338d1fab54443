"""What data scientists call: a policy's decision log as VW DSJSON or JSON Lines, streamed."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from api.http.access import access, require_policy
from api.service.export import ExportRange, ExportService
from bandit.errors import InvalidInputError
from domain import ApiKey

__all__ = ["ExportController", "parse_time"]

NDJSON = "application/x-ndjson"


class ExportController(Controller):
    path = "/v1/policies"
    tags = ["export"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/{name:str}/export",
        media_type=NDJSON,
        **access(
            "read",
            errors=(404, 422),
            also={
                200: ResponseSpec(
                    data_container=str,
                    media_type=NDJSON,
                    description="JSON Lines, streamed: one JSON object per decision "
                    "(VW DSJSON for format=dsjson, the full log entry for format=jsonl).",
                    generate_examples=False,
                )
            },
        ),
    )
    async def export(
        self,
        name: FromPath[str],
        caller: NamedDependency[ApiKey],
        export: NamedDependency[ExportService],
        format: FromQuery[str] = "dsjson",
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        unlabeled: FromQuery[str | None] = None,
    ) -> Stream:
        """Decisions created at ``since <= created_at < until`` (epoch seconds or ISO 8601).

        One line per decision in creation order. ``format=dsjson`` (default) is Vowpal Wabbit's
        ``--dsjson`` input for ``--cb_explore_adf``; decisions without a joined reward are left
        out unless ``unlabeled=include`` (then they carry no ``_label_*`` keys). ``format=jsonl``
        is the full log with feedback and reward (null when none was joined); ``unlabeled=skip``
        leaves those decisions out.
        """
        require_policy(caller, name)
        window = ExportRange(
            since=None if since is None else parse_time("since", since),
            until=None if until is None else parse_time("until", until),
        )
        lines = export.lines(name, fmt=format, window=window, unlabeled=unlabeled)
        # The first page is read before the 200 goes out, so a failure there is an error
        # status; one later aborts the stream (no final chunk), never a 200 with an error.
        first = await anext(lines, None)
        return Stream(_after(first, lines), media_type=NDJSON)


async def _after(first: str | None, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    if first is None:
        return
    yield first
    async for line in rest:
        yield line


def parse_time(name: str, text: str) -> float:
    """Epoch seconds from ``text``: a number of seconds or an ISO 8601 time (naive means UTC).

    >>> parse_time("since", "1700000000.5")
    1700000000.5
    >>> parse_time("since", "2024-01-01T00:00:00Z")
    1704067200.0
    """
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidInputError(
                f"The {name} time must be epoch seconds or ISO 8601, got {text!r}."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise InvalidInputError(
            f"The {name} time must be a finite number of seconds, got {text!r}."
        )
    return value
