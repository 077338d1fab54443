"""A policy's decision log, streamed as VW DSJSON or JSON Lines, for data scientists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from bandit.errors import InvalidInputError
from storage.export import EXPORT_FORMATS, ExportRange, Unlabeled, export_lines

__all__ = ["EXPORT_FORMATS", "ExportRange", "ExportService", "Unlabeled"]


class ExportService:
    def __init__(self, engine: AsyncEngine, catalog: Catalog) -> None:
        self._engine = engine
        self._catalog = catalog

    def lines(
        self, policy: str, *, fmt: str, window: ExportRange, unlabeled: str | None
    ) -> AsyncIterator[str]:
        """The lines of ``policy``'s decisions in ``window``; every refusal (an unknown policy,
        format or ``unlabeled`` option) is raised here, before the first line is streamed."""
        self._catalog.policy(policy)  # 404 before the stream starts
        if fmt not in EXPORT_FORMATS:
            raise InvalidInputError(
                f"Export format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}."
            )
        if unlabeled not in (None, "skip", "include"):
            raise InvalidInputError(
                f"The unlabeled option must be skip or include, got {unlabeled!r}."
            )
        return export_lines(
            self._engine,
            policy=policy,
            fmt=fmt,
            window=window,
            unlabeled=cast(Unlabeled | None, unlabeled),
        )
