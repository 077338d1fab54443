import pytest

from features.markers import MARKERS, markers_namespace


def _markers(prompt: str) -> tuple[str, ...]:
    namespace = markers_namespace(prompt)
    return () if namespace is None else tuple(name for name, _ in namespace.features)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("```python\nprint(1)\n```", ("code",)),
        ("def add(a, b):\n    return a + b", ("code",)),
        ("class Point:\n    pass", ("code",)),
        ("#include <stdio.h>", ("code",)),
        ("import numpy as np", ("code",)),
        ("from os import path", ("code",)),
        ("int main() {", ("code",)),
        ("const f = function (a) { return a }", ("code",)),
        ("x = 1;", ("code", "math")),
        ("What is the function of the liver?", ("question",)),
        ("Import the data, then class them by colour.", ()),
        ("What is 3 + 4", ("math", "question")),
        ("Solve for x: 2x + 3 = 7.", ("math",)),
        (r"Simplify \frac{1}{2} of it.", ("math",)),
        ("Let $x^2$ be positive.", ("math",)),
        ("The ticket costs $5 and $10 with a drink.", ()),
        ("We met on 2024-05-01 at 3/4 past.", ()),
        ("Find the integral of sin.", ("math",)),
        ("why is the sky blue", ("question",)),
        ("Is it raining", ("question",)),
        ("Tell me a story.", ()),
        ("\u65e5\u672c\u306e\u9996\u90fd\u306f\uff1f", ("question",)),
        ("List five ideas for dinner.", ("list_request",)),
        ("Give me 10 reasons to run.", ("list_request",)),
        ("Answer in bullet points.", ("list_request",)),
        ("Translate this into French.", ("translation",)),
        ("Please summarise the article.", ("summarize",)),
        ("TL;DR of the thread please.", ("summarize",)),
        ("", ()),
    ],
)
def test_markers(prompt: str, expected: tuple[str, ...]) -> None:
    assert _markers(prompt) == expected


def test_all_markers_come_in_fixed_order_with_value_one() -> None:
    prompt = "Can you translate and summarize this list of 3 + 4 in code?\n```\nx;\n```"
    namespace = markers_namespace(prompt)
    assert namespace is not None
    assert namespace.features == tuple((name, 1.0) for name in MARKERS)


def test_no_markers_gives_no_namespace() -> None:
    assert markers_namespace("Hello there.") is None
