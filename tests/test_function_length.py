"""No function in api/ or storage/ is longer than 60 lines (def to its last line; migrations,
which are history, aside). A longer one reads as named steps instead: the rule the structure
round brought these packages to, kept by this test."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60


def _long_functions(root: Path, package: str) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length})")
    return found


def test_no_function_in_api_or_storage_is_over_60_lines() -> None:
    assert _long_functions(ROOT, "api") + _long_functions(ROOT, "storage") == []


def test_the_count_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"def long() -> None:\n{body}\n")
    found = _long_functions(tmp_path.parent, tmp_path.name)
    assert found == [f"{tmp_path.name}/long.py:1 long (61)"]
