import dataclasses
import random
import string
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from bandit.types import Context
from features.arms import ARM_NAMESPACES
from features.caller import MAX_CALLER_FEATURES
from features.context import CONTEXT_NAMESPACES, FeatureSettings, extract_context
from features.errors import FeatureError
from features.mapping import Scalar
from features.markers import MARKERS
from features.words import MAX_WORDS

_KEY = b"test installation key"

_PROMPT = "Can you summarize this Python code?\n```\nimport os\n```"
_CALLER: dict[str, Scalar] = {"tier": "gold", "retries": 2, "beta": True}


def _names(context: Context) -> list[str]:
    return [namespace.name for namespace in context.namespaces]


class _FakeEmbedder:
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.array([[float(len(t)), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_namespaces_come_in_fixed_order() -> None:
    everything = FeatureSettings(embedding=True)
    context = extract_context(_PROMPT, _CALLER, everything, _FakeEmbedder(), word_key=_KEY)
    assert _names(context) == list(CONTEXT_NAMESPACES)
    assert _names(extract_context(_PROMPT, _CALLER, word_key=_KEY)) == list(CONTEXT_NAMESPACES[:-1])


def test_embedding_needs_an_embedder() -> None:
    with pytest.raises(FeatureError, match="no embedder"):
        extract_context(_PROMPT, None, FeatureSettings(embedding=True), word_key=_KEY)


def test_missing_inputs_give_fewer_namespaces() -> None:
    assert _names(extract_context(None, _CALLER, word_key=_KEY)) == ["caller"]
    assert _names(extract_context(_PROMPT, None, word_key=_KEY)) == [
        "size",
        "markers",
        "language",
        "words",
    ]
    assert _names(extract_context(_PROMPT, {}, word_key=_KEY)) == [
        "size",
        "markers",
        "language",
        "words",
    ]
    assert extract_context(None, None, word_key=_KEY) == Context()
    assert _names(extract_context("", None, word_key=_KEY)) == ["size"]


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (FeatureSettings(), ["size", "markers", "language", "words", "caller"]),
        (FeatureSettings(words=False), ["size", "markers", "language", "caller"]),
        (FeatureSettings(text=False), ["words", "caller"]),
        (FeatureSettings(text=False, words=False), ["caller"]),
    ],
)
def test_settings_select_namespaces(settings: FeatureSettings, names: list[str]) -> None:
    assert _names(extract_context(_PROMPT, _CALLER, settings, word_key=_KEY)) == names


def test_settings_are_frozen_validated_and_keyword_only() -> None:
    settings = FeatureSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.text = False  # type: ignore[misc]
    with pytest.raises(FeatureError, match=r"FeatureSettings.words must be True or False"):
        FeatureSettings(words="false")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FeatureSettings(False)  # type: ignore[call-arg]


def test_same_input_same_context_whatever_the_dict_order() -> None:
    first = extract_context(_PROMPT, _CALLER, word_key=_KEY)
    second = extract_context(_PROMPT, dict(reversed(list(_CALLER.items()))), word_key=_KEY)
    assert first == second
    assert hash(first) == hash(second)


def test_namespace_names_are_distinct_by_first_letter() -> None:
    # VW groups namespaces by first letter: two sharing one would merge.
    letters = [name[0] for name in CONTEXT_NAMESPACES + ARM_NAMESPACES]
    assert len(set(letters)) == len(letters)
    assert all(name[0].islower() for name in CONTEXT_NAMESPACES)
    assert all(name[0].isupper() for name in ARM_NAMESPACES)


# size: one chars bucket, one lines bucket, log_tokens; language: script and ascii_ratio.
_BOUND = 3 + len(MARKERS) + 2 + MAX_WORDS + MAX_CALLER_FEATURES
_MEGABYTE = 1 << 20


def _random_words(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = "".join(rng.choices(string.ascii_letters + "\u0436\u4f60", k=rng.randint(1, 12)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


@pytest.mark.parametrize(
    "shape",
    ["random words", "one long word", "digits", "whitespace", "semicolons", "markers", "dollars"],
)
def test_a_megabyte_prompt_stays_bounded(shape: str) -> None:
    rng = random.Random(7)
    prompt = {
        "random words": lambda: _random_words(rng, _MEGABYTE),
        "one long word": lambda: "a" * _MEGABYTE,
        "digits": lambda: "1" * _MEGABYTE,
        "whitespace": lambda: " \t" * (_MEGABYTE // 2),
        "semicolons": lambda: "; " * (_MEGABYTE // 2),
        "markers": lambda: ("What is 3 + 4? translate, summarize, list\n```\n" * 30000)[:_MEGABYTE],
        "dollars": lambda: "$ a" * (_MEGABYTE // 3),
    }[shape]()
    caller: dict[str, Scalar] = {f"key {index}": "v" * 1024 for index in range(MAX_CALLER_FEATURES)}
    context = extract_context(prompt, caller, word_key=_KEY)
    total = sum(len(namespace.features) for namespace in context.namespaces)
    assert total <= _BOUND == 203
    if shape == "random words":
        # The bound is reached, not merely respected: every part is at its maximum.
        assert [len(namespace.features) for namespace in context.namespaces][-2:] == [
            MAX_WORDS,
            MAX_CALLER_FEATURES,
        ]
