"""The dashboard: one self-contained HTML page that draws from the JSON inspection endpoints."""

from __future__ import annotations

from importlib import resources

from litestar import MediaType, get

__all__ = ["dashboard"]

# Package data, read once: the page must not depend on the working directory.
_PAGE = resources.files("api.pages").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@get(
    "/dashboard",
    media_type=MediaType.HTML,
    include_in_schema=False,
    sync_to_thread=False,
    opt={"public": True},
)
def dashboard() -> str:
    """Per policy: model shares and reward over time, evaluation, drift flags, experiments."""
    return _PAGE
