"""A self-contained HTML page served as it is: open to everybody, since it holds no data and
asks for an API key itself (kept in ``sessionStorage``) before calling the JSON endpoints."""

from __future__ import annotations

from importlib import resources

from litestar import MediaType, get
from litestar.handlers import HTTPRouteHandler

__all__ = ["static_page"]


def static_page(path: str, filename: str, summary: str) -> HTTPRouteHandler:
    """The handler serving ``static/filename`` at ``path``."""
    # Package data, read once: the page must not depend on the working directory.
    page = resources.files("api.pages").joinpath(f"static/{filename}").read_text(encoding="utf-8")

    def serve() -> str:
        return page

    serve.__doc__ = summary
    return get(
        path,
        media_type=MediaType.HTML,
        include_in_schema=False,
        sync_to_thread=False,
        opt={"public": True},
        name=filename.removesuffix(".html"),
    )(serve)
