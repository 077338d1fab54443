"""Context namespaces derived from the prompt text."""

from __future__ import annotations

from bandit.types import Namespace
from features import language, markers, size, words

__all__ = ["TEXT_NAMESPACES", "text_namespaces"]

#: The names :func:`text_namespaces` can emit, in emission order.
TEXT_NAMESPACES = (size.NAMESPACE, markers.NAMESPACE, language.NAMESPACE, words.NAMESPACE)


def text_namespaces(prompt: str, *, word_key: bytes) -> tuple[Namespace, ...]:
    """Return the ``size``, ``markers``, ``language`` and ``words`` namespaces of ``prompt``.

    Namespaces without features are left out; a blank prompt has only ``size``. Words are
    hashed with ``word_key`` (see :mod:`features.words`).

    >>> [ns.name for ns in text_namespaces("Why is the sky blue?", word_key=b"key")]
    ['size', 'markers', 'language', 'words']
    >>> [ns.name for ns in text_namespaces(" ", word_key=b"key")]
    ['size']
    """
    built = (
        size.size_namespace(prompt),
        markers.markers_namespace(prompt),
        language.language_namespace(prompt),
        words.words_namespace(prompt, word_key),
    )
    return tuple(namespace for namespace in built if namespace is not None)
