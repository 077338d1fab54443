"""The ``markers`` namespace: cheap flags for what kind of task the prompt looks like.

Each marker is one regular expression searched over the whole prompt. The heuristics are
deliberately simple and English-centred; they are hints for the learner, not a classifier, and
every quantifier is bounded or anchored so that the search stays linear in the prompt length.
"""

from __future__ import annotations

import re

from bandit.types import Namespace

__all__ = ["MARKERS", "NAMESPACE", "markers_namespace"]

NAMESPACE = "markers"

_CODE = re.compile(
    r"```|~~~"  # Markdown code fence
    r"|^[ \t]*(?:def|class)[ \t]+\w+[ \t]*[(:{]"  # def f(...  class Foo:  class Foo {
    r"|^[ \t]*import[ \t]+[\w.{*]"  # import x / import {x} / import * as x
    r"|^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]"
    r"|^[ \t]*#[ \t]*include\b"
    r"|\bfunction\b[ \t]*\w*[ \t]*\("  # JavaScript function declarations and expressions
    r"|[;{][ \t]*$",  # statement or block ends a line; English prose rarely does
    re.MULTILINE,
)
# Case-sensitive keywords above: "Import the data" or "Class is at 9" are prose, not code.

_MATH = re.compile(
    r"\\(?:[dt]?frac|sqrt|i?int|oint|sum|prod|lim|infty|cdot|times|partial|nabla|le|ge|neq"
    r"|approx|alpha|beta|gamma|delta|theta|lambda|mu|sigma|pi)(?![A-Za-z])"  # LaTeX commands
    # $...$ with pandoc's rule (no space inside either dollar, no digit after the closing one),
    # so that "$5 and $10" is money, not mathematics.
    r"|\$[^\s$](?:[^$\n]{0,200}[^\s$])?\$(?!\d)"
    r"|\d[ \t]*[+*^\u00d7\u00f7][ \t]*\d"  # 3 + 4, 2*3, 2^10, 6 times/divided by 2
    r"|\d[ \t]+[-/][ \t]+\d"  # 10 - 3 (spaces required: 2024-05-01 and 3/4 are not sums)
    r"|=[ \t]*-?\d|\d[ \t]*=(?!=)"  # x = 5, 2x + 3 = 7
    r"|(?i:\b(?:solve|equations?|integrals?|integrate|derivatives?|differentiate|theorem"
    r"|prove|proof|calculate|polynomial|probability)\b)",
)

_INTERROGATIVES = frozenset(
    (
        *("what", "who", "whom", "whose", "which", "when", "where", "why", "how"),
        *("is", "are", "am", "was", "were", "does", "did"),
        *("can", "could", "should", "would", "will", "shall", "may", "might"),
    )
)
_FIRST_WORD = re.compile(r"\s*([^\W\d_]+)")
# Latin, full-width (CJK) and Arabic question marks.
_QUESTION_MARKS = ("?", "\uff1f", "\u061f")

_LIST_REQUEST = re.compile(
    r"(?i:\b(?:list|enumerate|bullet(?:ed)?[ \t]+points?|bullets|top[ \t]+\d{1,3}"
    r"|\d{1,3}[ \t]+(?:ways|examples|ideas|reasons|tips|steps|things|options|names))\b)"
)
_TRANSLATION = re.compile(r"(?i:\btranslat(?:e|es|ed|ing|ion|ions|or)\b)")
_SUMMARIZE = re.compile(
    r"(?i:\b(?:summar(?:y|ies|i[sz]e|i[sz]es|i[sz]ed|i[sz]ing|i[sz]ation)|tl;?dr|recap"
    r"|condense)\b)"
)

#: Every marker this namespace can emit, in emission order.
MARKERS = ("code", "math", "question", "list_request", "translation", "summarize")


def markers_namespace(prompt: str) -> Namespace | None:
    """Return one flag per marker found in ``prompt``, or None when there is none.

    >>> markers_namespace("How do I solve x^2 = 4 in Python?").features
    (('math', 1.0), ('question', 1.0))
    >>> markers_namespace("Translate 'def f(x):' into a bullet list.").features
    (('list_request', 1.0), ('translation', 1.0))
    >>> markers_namespace("Hello there.") is None
    True
    """
    present = (
        _CODE.search(prompt) is not None,
        _MATH.search(prompt) is not None,
        _is_question(prompt),
        _LIST_REQUEST.search(prompt) is not None,
        _TRANSLATION.search(prompt) is not None,
        _SUMMARIZE.search(prompt) is not None,
    )
    features = tuple((name, 1.0) for name, found in zip(MARKERS, present, strict=True) if found)
    return Namespace(NAMESPACE, features) if features else None


def _is_question(prompt: str) -> bool:
    """True if the prompt ends with a question mark or starts with an interrogative word."""
    if prompt.rstrip().endswith(_QUESTION_MARKS):
        return True
    # A slice keeps a leading run of whitespace from making this linear in the prompt.
    first = _FIRST_WORD.match(prompt.lstrip()[:64])
    return first is not None and first.group(1).lower() in _INTERROGATIVES
