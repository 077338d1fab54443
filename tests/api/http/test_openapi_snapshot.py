"""The OpenAPI document is a contract: a change to it is deliberate, never a side effect.

Moving code (the domain below ``storage/``, wire structs split by feature) must leave the
document byte-identical; a deliberate change regenerates the snapshot with
``python -m tests.api.http.test_openapi_snapshot`` and names the change in its commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from api.app import create_app
from api.settings import Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi.json"


def current_document() -> str:
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    return json.dumps(app.openapi_schema.to_schema(), indent=1, sort_keys=True) + "\n"


def test_the_openapi_document_equals_its_snapshot() -> None:
    current = current_document()
    stored = SNAPSHOT.read_text()
    if current != stored:
        changed = [
            f"line {n}: {a!r} != {b!r}"
            for n, (a, b) in enumerate(
                zip(current.splitlines(), stored.splitlines(), strict=False), 1
            )
            if a != b
        ]
        raise AssertionError(
            "The OpenAPI document changed; if that is deliberate, regenerate the snapshot "
            f"(python -m tests.api.http.test_openapi_snapshot). First differences: {changed[:5]}"
        )


if __name__ == "__main__":
    SNAPSHOT.write_text(current_document())
