"""No user string can add a feature or a namespace to a Vowpal Wabbit example.

Arbitrary prompts, caller keys and values, model ids and declared features are turned into a
context and an arm, rendered as VW text and parsed by VW itself; what VW parsed must have exactly
the namespaces and feature counts of the domain objects.
"""

import math
from collections.abc import Iterator
from typing import Any

import pytest
import vowpalwabbit
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.types import Namespace
from features.arms import arm_for_model
from features.context import FeatureSettings, extract_context
from features.errors import FeatureError
from features.mapping import MAX_KEY_CHARS, Scalar

_KEY = b"test installation key"

# VW adds its bias feature in its own namespace to every example, whatever we send.
_CONSTANT_NAMESPACE = 128

_ADVERSARIAL = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x00", "|", ":", "'", "=", "~", "`"]
_ADVERSARIAL += ["\u00a0", "\u2028", "\u3000", "shared", "|Model", " |a b:1 ", "1e9", "\ud800"]

# Every character, lone surrogates included, with the VW separators over-represented.
_text = st.one_of(
    st.text(),
    st.lists(
        st.one_of(st.sampled_from(_ADVERSARIAL), st.characters(exclude_categories=())),
        max_size=40,
    ).map("".join),
)
# Magnitudes VW's float parser keeps; it silently drops values below about 1e-37.
_number = st.one_of(
    st.just(0),
    st.integers(-(10**12), 10**12),
    st.floats(1e-6, 1e12),
    st.floats(-1e12, -1e-6),
)
_scalar: st.SearchStrategy[Scalar] = st.one_of(_text, st.booleans(), _number)
# Keys within the documented length (longer ones are refused with FeatureError, tested apart).
_key = _text.filter(lambda text: len(text) <= MAX_KEY_CHARS)
_mapping = st.dictionaries(_key, _scalar, max_size=8)
_price = st.one_of(st.just(0.0), st.floats(1e-6, 1e4))


def _render(namespaces: tuple[Namespace, ...]) -> str:
    # The shape of bandit/vw_policy.py's renderer: one "|name feature:value ..." per namespace.
    return " ".join(
        f"|{namespace.name} " + " ".join(f"{name}:{value:g}" for name, value in namespace.features)
        for namespace in namespaces
    )


def _expected(namespaces: tuple[Namespace, ...]) -> dict[int, int]:
    # VW drops zero-valued features while parsing, and a namespace left empty with them.
    counts = {
        ord(namespace.name[0]): sum(1 for _, value in namespace.features if value != 0)
        for namespace in namespaces
    }
    counts = {index: count for index, count in counts.items() if count}
    return {**counts, _CONSTANT_NAMESPACE: 1}


class _Parser:
    """Parses VW text with a real Workspace and reports what VW made of each line.

    A wrapper rather than the Workspace itself: Hypothesis mistakes a first argument with a
    ``setup_example`` method (as Workspace has) for a test class instance and calls it.
    """

    def __init__(self, workspace: Any) -> None:
        self._workspace = workspace

    def parse(self, lines: list[str]) -> list[dict[int, list[float]]]:
        """Return, per parsed example, the feature values VW holds in each namespace index."""
        examples = self._workspace.parse(lines)
        try:
            return [_values(example) for example in examples]
        finally:
            self._workspace.finish_example(examples)


def _values(example: Any) -> dict[int, list[float]]:
    values: dict[int, list[float]] = {}
    for position in range(example.num_namespaces()):
        index = int(example.namespace(position))
        key = chr(index)
        count = int(example.num_features_in(key))
        values[index] = [float(example.feature_weight(key, i)) for i in range(count)]
    return values


def _counts(values: dict[int, list[float]]) -> dict[int, int]:
    return {index: len(features) for index, features in values.items()}


@pytest.fixture(scope="module")
def parser() -> Iterator[_Parser]:
    workspace = vowpalwabbit.Workspace("--cb_explore_adf --quiet")
    yield _Parser(workspace)
    workspace.finish()


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    prompt=st.one_of(st.none(), _text),
    caller=_mapping,
    model_id=_text.filter(bool),
    declared=_mapping,
    input_price=_price,
    output_price=_price,
    text=st.booleans(),
    words=st.booleans(),
)
def test_user_strings_cannot_add_features_or_namespaces(
    parser: _Parser,
    prompt: str | None,
    caller: dict[str, Scalar],
    model_id: str,
    declared: dict[str, Scalar],
    input_price: float,
    output_price: float,
    text: bool,
    words: bool,
) -> None:
    context = extract_context(
        prompt, caller, FeatureSettings(text=text, words=words), word_key=_KEY
    )
    arm = arm_for_model(
        model_id,
        input_usd_per_mtok=input_price,
        output_usd_per_mtok=output_price,
        declared=declared,
    )
    other = arm_for_model("other", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0, declared={})
    lines = [
        f"shared {_render(context.namespaces)}",
        _render(arm.namespaces),
        _render(other.namespaces),
    ]
    shared, chosen, fixed = parser.parse(lines)
    assert _counts(shared) == _expected(context.namespaces)
    assert _counts(chosen) == _expected(arm.namespaces)
    assert _counts(fixed) == _expected(other.namespaces)


def test_vw_reads_rendered_values_as_sent(parser: _Parser) -> None:
    context = extract_context("Why?", {"n": 0.125, "m": -3, "z": 0}, word_key=_KEY)
    (shared, _) = parser.parse([f"shared {_render(context.namespaces)}", "|Model id=a"])
    # VW's own float parser is not exact, even for 0.125: compare at float32 precision.
    assert shared[ord("c")] == [-3.0, pytest.approx(0.125, rel=1e-6)]


def test_vw_turns_values_beyond_float32_into_inf(parser: _Parser) -> None:
    # Why features refuse numbers above float32's maximum: VW would learn from inf.
    (shared, _) = parser.parse(["shared |c a:3.5e38 b:3.4e38", "|Model id=a"])
    assert shared[ord("c")] == [math.inf, pytest.approx(3.4e38, rel=1e-6)]
    with pytest.raises(FeatureError, match="32-bit float"):
        extract_context(None, {"a": 3.5e38}, word_key=_KEY)
