"""Generate the blocking client (api/client/_sync.py) from the asyncio one (_async.py).

    python scripts/generate_sync_client.py          # rewrite _sync.py
    python scripts/generate_sync_client.py --check  # exit 1 if _sync.py is not what it makes

The two clients make the same calls; only one is written by hand, as httpcore keeps its sync
code. ``make lint`` runs the check, so an edit to one side alone fails the build. The rules are
whole-word substitutions (the async names on the left), then ruff sorts the imports and formats.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "api" / "client"
SOURCE = CLIENT / "_async.py"
TARGET = CLIENT / "_sync.py"

#: Applied in order; each pattern is a regular expression.
RULES: list[tuple[str, str]] = [
    (r"^import asyncio$", "import time"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\bAsyncRouterClient\b", "RouterClient"),
    (r"\bAsyncExportStream\b", "ExportStream"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bhttpx\.AsyncClient\b", "httpx.Client"),
    (r"\bhttpx\.AsyncBaseTransport\b", "httpx.BaseTransport"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bAwaitable\[(object|None)\]", r"\1"),
    (r", Awaitable\b", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_(lines|bytes)\b", r"iter_\1"),
    (r"\basync (def|for|with) ", r"\1 "),
    (r"\bawait ", ""),
    (r"an async context manager", "a context manager"),
    (r"asyncio, over one", "blocking code, over one"),
]


def generate(source: str) -> str:
    text = source
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    header = (
        "# Generated from _async.py by scripts/generate_sync_client.py: edit that file and run\n"
        "# the script, never this one.\n"
    )
    return _ruff(header + text)


def _ruff(text: str) -> str:
    ruff = [sys.executable, "-m", "ruff"]
    where = ["--stdin-filename", str(TARGET)]
    # Sorted imports, and ``for x in y: yield x`` as ``yield from y``.
    fixed = subprocess.run(  # noqa: S603 - this venv's ruff, on our own file
        [*ruff, "check", "--fix", "--unsafe-fixes", "--quiet", "--select", "I,UP028", *where, "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return subprocess.run(  # noqa: S603
        [*ruff, "format", *where, "-"], input=fixed, capture_output=True, text=True, check=True
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    generated = generate(SOURCE.read_text())
    if not args.check:
        TARGET.write_text(generated)
        return 0
    if TARGET.read_text() != generated:
        print(
            f"{TARGET} is not what {SOURCE.name} generates: edit {SOURCE.name} and run "
            "python scripts/generate_sync_client.py.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
