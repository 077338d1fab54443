"""The dashboard: one self-contained HTML page that draws from the JSON inspection endpoints."""

from __future__ import annotations

from api.pages.static_page import static_page

__all__ = ["dashboard"]

dashboard = static_page(
    "/dashboard",
    "dashboard.html",
    "Per policy: model shares and reward over time, evaluation, drift flags, experiments.",
)
