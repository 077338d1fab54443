"""A page in Debian's headless Chromium (driven by Playwright; no browser is downloaded),
with every console error, page error and request it makes recorded for the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Error, Page, Request, sync_playwright

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Seen", "chromium_page"]

CHROMIUM = Path("/usr/bin/chromium")
# No background traffic from the browser itself, so every request seen is the page's own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Seen:
    """What the page did: ``errors`` (console errors and uncaught ones) and ``requests``."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def requests_elsewhere(self, url: str) -> list[str]:
        """The requests to any origin other than ``url``'s (a page must load nothing else)."""
        own = urlsplit(url)[:2]
        return [seen for seen in self.requests if urlsplit(seen)[:2] != own]


@contextmanager
def chromium_page(*, width: int, height: int) -> Iterator[tuple[Page, Seen]]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)."
    )
    seen = Seen()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(f"console: {message.text}")

    def on_page_error(error: Error) -> None:
        seen.errors.append(f"page: {error}")

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.on("request", on_request)
            yield page, seen
        finally:
            browser.close()
