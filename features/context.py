"""Compose a request's :class:`~bandit.types.Context` from its prompt and caller features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bandit.types import Context, Namespace
from features import embedding, language, markers, size, words
from features.caller import NAMESPACE as CALLER
from features.caller import caller_namespace
from features.errors import FeatureError
from features.mapping import Scalar

__all__ = ["CONTEXT_NAMESPACES", "DEFAULT_SETTINGS", "FeatureSettings", "extract_context"]

#: Every context namespace this package can emit, in the order it emits them.
CONTEXT_NAMESPACES: tuple[str, ...] = (
    size.NAMESPACE,
    markers.NAMESPACE,
    language.NAMESPACE,
    words.NAMESPACE,
    CALLER,
    embedding.NAMESPACE,
)


# Keyword-only so that later fields (an embedding flag, say) can be added in any position.
@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureSettings:
    """Which context features to extract.

    ``text``: the ``size``, ``markers`` and ``language`` namespaces of the prompt.
    ``words``: the keyed-hashed bag of words of the prompt (``words`` namespace).
    Caller features are always used.

    ``embedding``: a dense prompt embedding (``embedding`` namespace); needs an embedder.

    >>> FeatureSettings(words=False)
    FeatureSettings(text=True, words=False, embedding=False)
    >>> FeatureSettings(text="no")
    Traceback (most recent call last):
    ...
    features.errors.FeatureError: FeatureSettings.text must be True or False; got 'no'.
    """

    text: bool = True
    words: bool = True
    embedding: bool = False

    def __post_init__(self) -> None:
        # Settings may come from parsed config, where "false" is a truthy string.
        for name in ("text", "words", "embedding"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise FeatureError(f"FeatureSettings.{name} must be True or False; got {value!r}.")


DEFAULT_SETTINGS = FeatureSettings()


def extract_context(
    prompt: str | None,
    caller: Mapping[str, Scalar] | None,
    settings: FeatureSettings = DEFAULT_SETTINGS,
    embedder: embedding.Embedder | None = None,
    *,
    word_key: bytes,
) -> Context:
    """Return the context of one request; namespaces come in ``CONTEXT_NAMESPACES`` order.

    ``word_key`` is the secret the prompt's words are hashed with (see :mod:`features.words`):
    the installation's key in the server, a fixed key of its own in replay.

    >>> context = extract_context("Summarize this.", {"tier": "free"}, word_key=b"key")
    >>> [namespace.name for namespace in context.namespaces]
    ['size', 'markers', 'language', 'words', 'caller']
    >>> extract_context(None, None, word_key=b"key")
    Context(namespaces=())
    """
    built: list[Namespace | None] = []
    if prompt is not None:
        if settings.text:
            built += (
                size.size_namespace(prompt),
                markers.markers_namespace(prompt),
                language.language_namespace(prompt),
            )
        if settings.words:
            built.append(words.words_namespace(prompt, word_key))
    if caller is not None:
        built.append(caller_namespace(caller))
    if prompt is not None and settings.embedding:
        if embedder is None:
            raise FeatureError("Embedding features are switched on but no embedder is loaded.")
        built.append(embedding.embedding_namespace(embedder.embed([prompt])[0]))
    return Context(tuple(namespace for namespace in built if namespace is not None))
