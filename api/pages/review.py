"""The review page: one self-contained HTML page over the review queue and feedback."""

from __future__ import annotations

from importlib import resources

from litestar import MediaType, get

__all__ = ["review"]

# Package data, read once: the page must not depend on the working directory.
_PAGE = resources.files("api.pages").joinpath("static/review.html").read_text(encoding="utf-8")


@get(
    "/review",
    media_type=MediaType.HTML,
    include_in_schema=False,
    sync_to_thread=False,
    opt={"public": True},
)
def review() -> str:
    """Sampled decisions waiting for review; the page asks for a key with the review scope."""
    return _PAGE
