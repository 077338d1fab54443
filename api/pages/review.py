"""The review page: one self-contained HTML page over the review queue and feedback."""

from __future__ import annotations

from api.pages.static_page import static_page

__all__ = ["review"]

review = static_page(
    "/review",
    "review.html",
    "Sampled decisions waiting for review; the page asks for a key with the review scope.",
)
