"""Tables and the drift table's share-change test: their doctests, and plain text only."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from api.cli import drift, output
from api.cli.output import table


@pytest.mark.parametrize("module", [output, drift])
def test_doctests(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module)
    assert attempted > 0
    assert failed == 0


def test_numbers_align_right_and_text_left_with_no_escape_codes() -> None:
    printed = table(
        ["model", "provider", "share", "change"],
        [["a", "openai", "5.0%", "+3.1 pp"], ["long-name", None, "100.0%", "-12.0 pp"]],
    )
    assert printed.splitlines() == [
        "model      provider   share    change",
        "---------  --------  ------  --------",
        "a          openai      5.0%   +3.1 pp",
        "long-name  -         100.0%  -12.0 pp",
    ]
    assert "\x1b" not in printed
