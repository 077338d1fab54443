"""The embedding namespace, and WordLlama loading from its own wheel with downloads disabled."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from features import WordLlamaEmbedder, embedding_namespace, extract_context
from features.context import FeatureSettings

_KEY = b"test installation key"


def test_embedding_namespace_is_unit_normalised_and_skips_zeros() -> None:
    namespace = embedding_namespace(np.array([0.0, 3.0, 4.0], dtype=np.float32))
    assert namespace is not None
    assert namespace.name == "embedding"
    assert namespace.features == (("d1", 0.6), ("d2", 0.8))
    assert embedding_namespace(np.zeros(4, dtype=np.float32)) is None
    assert embedding_namespace(np.array([np.nan, 1.0], dtype=np.float32)) is None


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def test_wordllama_loads_offline_and_embeds_deterministically(
    wordllama: WordLlamaEmbedder,
) -> None:
    vectors = wordllama.embed(["Write a Python function.", "Solve 2x + 3 = 7."])
    assert vectors.shape == (2, 256)
    assert np.array_equal(
        vectors, wordllama.embed(["Write a Python function.", "Solve 2x + 3 = 7."])
    )
    assert not np.allclose(vectors[0], vectors[1])


def test_similar_prompts_have_closer_embeddings(wordllama: WordLlamaEmbedder) -> None:
    code_a, code_b, cooking = wordllama.embed(
        [
            "Write a Python function that sorts a list of integers.",
            "Implement a Python function to sort an array of numbers.",
            "What is a good recipe for banana bread?",
        ]
    )

    def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(code_a, code_b) > cosine(code_a, cooking) + 0.1


def test_context_with_wordllama_embedding(wordllama: WordLlamaEmbedder) -> None:
    context = extract_context(
        "Explain recursion.", None, FeatureSettings(embedding=True), wordllama, word_key=_KEY
    )
    embedding = context.namespaces[-1]
    assert embedding.name == "embedding"
    assert 200 <= len(embedding.features) <= 256
    norm = sum(v * v for _, v in embedding.features) ** 0.5
    assert norm == pytest.approx(1.0, abs=1e-3)
