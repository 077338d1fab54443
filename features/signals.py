"""The ``signals`` namespace: what an application knows about a first answer, as features.

A cascade's escalation decision looks at the first model's answer through these signals: a
judge's score, the model's own confidence, whether two cheap answers agree, the answer's length,
and the answer text itself. The text is turned into features here (length buckets, refusal and
uncertainty markers, code, the shape of its final answer) and is never kept: nothing in the
returned namespaces can give the text back.

Features are one-hot buckets beside the raw numbers, because a linear learner cannot bend a raw
score, and every flag that is not missing but false is emitted as ``name=false``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from bandit.limits import MAX_ANSWER_CHARS, MAX_ANSWER_LENGTH
from bandit.types import Context, Namespace
from features.errors import FeatureError
from features.sanitize import safe_token, utf8

__all__ = [
    "ESCALATION_NAMESPACES",
    "FIRST_NAMESPACE",
    "JOINT_NAMESPACE",
    "MAX_ANSWER_CHARS",
    "NAMESPACE",
    "EscalationSignals",
    "answers_agree",
    "escalation_context",
    "final_answer",
    "signals_namespace",
]

NAMESPACE = "signals"
#: The first model's id, so one escalation policy can serve several first models.
FIRST_NAMESPACE = "first"
#: Every signal crossed with every caller feature: how much a disagreement means depends on
#: the task (a linear learner cannot multiply two namespaces by itself).
JOINT_NAMESPACE = "joint"
#: The namespaces :func:`escalation_context` adds to a request's context, in order.
ESCALATION_NAMESPACES: tuple[str, ...] = (NAMESPACE, FIRST_NAMESPACE, JOINT_NAMESPACE)


_LENGTH_BUCKETS = (
    (0, "chars_0"),
    (2, "chars_le_2"),
    (16, "chars_le_16"),
    (128, "chars_le_128"),
    (1024, "chars_le_1k"),
    (4096, "chars_le_4k"),
)
_LENGTH_OVER = "chars_gt_4k"
# Fifths of [0, 1]: a judge's 0.79 and 0.81 land in different cells, which a learner can weigh.
_SCORE_BUCKETS = 5

_REFUSAL = re.compile(
    r"(?i:\b(?:i[' \u2019]?m sorry|i am sorry|i apologi[sz]e|i can(?:not|[' \u2019]t)"
    r"|i am (?:not able|unable)|i[' \u2019]?m (?:not able|unable)|as an ai\b"
    r"|i (?:won[' \u2019]t|will not) (?:help|provide|assist)))"
)
_UNCERTAIN = re.compile(
    r"(?i:\b(?:not (?:entirely |completely |quite )?sure|i think|i believe|i guess|maybe"
    r"|perhaps|possibly|probably|it depends|unclear|ambiguous|hard to say|might be"
    r"|could be|not certain|uncertain)\b)"
)
_CODE = re.compile(
    r"```|^[ \t]*(?:def|class)[ \t]+\w+[ \t]*[(:{]|^[ \t]*(?:import|return)[ \t]+\w",
    re.MULTILINE,
)
# A choice letter alone or leading the answer: "C", "(b)", "A) Maria", "D.", "B: ...", but not
# the article of "A function that...".
_LEADING_CHOICE = re.compile(r"\(([A-Ea-e])\)|([A-E])(?:[).:\]]|$)")
# "The answer is (C)", "Answer: B", "answer is option D".
_STATED_CHOICE = re.compile(
    r"(?i:\banswer(?:\s+is)?\s*[:\-]?\s*(?:option\s+)?)\(?([A-E])\b(?![a-z'])"
)
# "#### 42" (GSM8K style), "the answer is -3.5", "answer: 1,200".
_STATED_NUMBER = re.compile(r"(?i:(?:####|\banswer(?:\s+is)?\s*[:\-]?)\s*\$?(-?[\d,]*\.?\d+))")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationSignals:
    """What the application knows about the first answer; every field is optional.

    ``judge_score`` and ``confidence`` lie in [0, 1]; ``agree`` says whether two cheap answers
    agree; ``answer_chars`` is the answer's length (taken from ``answer`` when only the text is
    given); ``answer`` is the text, turned into features and never stored by this code.
    ``probe_answer`` is a second cheap model's answer to the same prompt: with both texts the
    router decides agreement itself (:func:`answers_agree`) unless ``agree`` is given, and which
    choice each answer made becomes a feature.

    >>> EscalationSignals(judge_score=0.8, agree=False).agree
    False
    >>> EscalationSignals(confidence=1.5)
    Traceback (most recent call last):
    ...
    features.errors.FeatureError: The signal confidence must be a number between 0 and 1; got 1.5.
    """

    judge_score: float | None = None
    confidence: float | None = None
    agree: bool | None = None
    answer_chars: int | None = None
    answer: str | None = None
    probe_answer: str | None = None

    def __post_init__(self) -> None:
        for name in ("judge_score", "confidence"):
            value = getattr(self, name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and 0.0 <= value <= 1.0)
            ):
                raise FeatureError(
                    f"The signal {name} must be a number between 0 and 1; got {value!r}."
                )
        if self.agree is not None and not isinstance(self.agree, bool):
            raise FeatureError(f"The signal agree must be true or false; got {self.agree!r}.")
        if self.answer_chars is not None and (
            isinstance(self.answer_chars, bool)
            or not isinstance(self.answer_chars, int)
            or not 0 <= self.answer_chars <= MAX_ANSWER_LENGTH
        ):
            raise FeatureError(
                "The signal answer_chars must be a whole number of characters between 0 and "
                f"{MAX_ANSWER_LENGTH}; got {self.answer_chars!r}."
            )
        for name in ("answer", "probe_answer"):
            text = getattr(self, name)
            if text is None:
                continue
            if not isinstance(text, str):
                raise FeatureError(f"The signal {name} must be text; got {text!r}.")
            if len(text) > MAX_ANSWER_CHARS:
                raise FeatureError(
                    f"The signal {name} is {len(text)} characters long; at most "
                    f"{MAX_ANSWER_CHARS} are accepted."
                )

    @property
    def agreement(self) -> bool | None:
        """``agree`` if given, else whether ``answer`` and ``probe_answer`` agree, if both are."""
        if self.agree is not None:
            return self.agree
        if self.answer is None or self.probe_answer is None:
            return None
        return answers_agree(self.answer, self.probe_answer)

    @property
    def length(self) -> int | None:
        """The answer's length: ``answer_chars`` if given, else the text's."""
        if self.answer_chars is not None:
            return self.answer_chars
        return None if self.answer is None else len(self.answer)


def final_answer(text: str) -> str:
    """The answer's final answer, normalised so that two answers can be compared.

    A choice letter (``"C"``, ``"(B) ..."``, ``"The answer is D"``) becomes ``choice:X``; a
    stated number becomes ``number:N``; any other text becomes ``text:`` and a digest of its
    lower-cased, whitespace-collapsed form (so code and prose compare exactly, never loosely).

    >>> final_answer(" C\\n"), final_answer("(b) Maria"), final_answer("The answer is D.")
    ('choice:C', 'choice:B', 'choice:D')
    >>> final_answer("#### 1,200"), final_answer("So the answer is 1200.")
    ('number:1200', 'number:1200')
    >>> final_answer("Hello  World") == final_answer("hello world")
    True
    """
    stripped = text.strip()
    leading = _LEADING_CHOICE.match(stripped)
    if leading is not None:
        return f"choice:{(leading.group(1) or leading.group(2)).upper()}"
    stated = _STATED_CHOICE.search(stripped)
    if stated is not None:
        return f"choice:{stated.group(1).upper()}"
    number = _STATED_NUMBER.search(stripped)
    if number is not None:
        value = number.group(1).replace(",", "")
        return f"number:{float(value):g}" if _is_number(value) else f"number:{value}"
    normalised = _WHITESPACE.sub(" ", stripped.lower()).strip(" .!")
    return "text:" + hashlib.blake2b(utf8(normalised), digest_size=8).hexdigest()


def answers_agree(first: str, second: str) -> bool:
    """Whether two answers give the same final answer (:func:`final_answer`).

    >>> answers_agree("A", "A) Maria"), answers_agree("A", "B"), answers_agree("", " ")
    (True, False, False)
    """
    if not first.strip() or not second.strip():
        return False
    return final_answer(first) == final_answer(second)


def signals_namespace(signals: EscalationSignals) -> Namespace | None:
    """The ``signals`` namespace of ``signals``, or None when nothing is known.

    >>> signals_namespace(EscalationSignals(agree=False, answer="C")).features
    (('agree=false', 1.0), ('chars_le_2', 1.0), ('log_chars', 0.6931471805599453), \
('final=C', 1.0), ('final_kind=choice', 1.0), ('final=C&agree=false', 1.0))
    >>> signals_namespace(EscalationSignals(answer="A", probe_answer="B) Sarah")).features[0]
    ('agree=false', 1.0)
    >>> signals_namespace(EscalationSignals()) is None
    True
    """
    features: list[tuple[str, float]] = []
    for name, score in (("judge", signals.judge_score), ("confidence", signals.confidence)):
        if score is not None:
            cell = min(int(score * _SCORE_BUCKETS), _SCORE_BUCKETS - 1)
            features += [(name, float(score)), (f"{name}_q{cell}", 1.0)]
    agree = signals.agreement
    if agree is not None:
        features.append(("agree", 1.0) if agree else ("agree=false", 1.0))
    length = signals.length
    if length is not None:
        features += [(_length_bucket(length), 1.0), ("log_chars", math.log1p(length))]
    if signals.answer is not None:
        text = _text_features(signals.answer)
        features += text
        # Which choice was made matters most when two answers disagree (models favour some
        # positions when unsure), and an additive learner cannot form the conjunction itself.
        choice = [name for name, _ in text if name.startswith("final=")]
        if choice and agree is not None:
            features.append((f"{choice[0]}&agree={str(agree).lower()}", 1.0))
        probe = _choice(signals.probe_answer)
        if choice and probe is not None:
            features.append((f"{choice[0]}&probe={probe}", 1.0))
    return Namespace(NAMESPACE, tuple(features)) if features else None


def escalation_context(request: Context, signals: EscalationSignals, first_model: str) -> Context:
    """The escalation decision's context: the request's, the signals, the first model's id, and
    every signal crossed with every caller feature.

    >>> from features.caller import caller_namespace
    >>> request = Context((caller_namespace({"task": "quiz"}),))
    >>> context = escalation_context(request, EscalationSignals(agree=True), "yi-34b")
    >>> [(ns.name, ns.features) for ns in context.namespaces[1:]]
    [('signals', (('agree', 1.0),)), ('first', (('id=yi-34b', 1.0),)), \
('joint', (('agree*task=quiz', 1.0),))]
    """
    if not isinstance(first_model, str) or not first_model:
        raise FeatureError(f"The first model must be a non-empty model id; got {first_model!r}.")
    built = [*request.namespaces]
    signal = signals_namespace(signals)
    if signal is not None:
        built.append(signal)
    built.append(Namespace(FIRST_NAMESPACE, ((f"id={safe_token(first_model)}", 1.0),)))
    caller = [ns for ns in request.namespaces if ns.name == "caller"]
    if signal is not None and caller:
        joint = tuple(
            (_joint_name(s, c), s_value * c_value)
            for s, s_value in signal.features
            for c, c_value in caller[0].features
        )
        built.append(Namespace(JOINT_NAMESPACE, joint))
    return Context(tuple(built))


def _joint_name(signal: str, caller: str) -> str:
    name = f"{signal}*{caller}"
    # Namespace feature names stop at 128 characters; a digest keeps longer pairs distinct.
    if len(name) <= 128:
        return name
    return "~" + hashlib.blake2b(name.encode("ascii"), digest_size=8).hexdigest()


def _text_features(answer: str) -> list[tuple[str, float]]:
    flags = (
        ("refusal", _REFUSAL.search(answer[:2048]) is not None),
        ("uncertain", _UNCERTAIN.search(answer[:4096]) is not None),
        ("code", _CODE.search(answer) is not None),
    )
    features = [(name, 1.0) for name, present in flags if present]
    if not answer.strip():
        return [*features, ("empty", 1.0)]
    final = final_answer(answer)
    kind, _, value = final.partition(":")
    if kind == "choice":
        # A handful of letters: the choice itself is a feature (models favour some positions).
        features.append((f"final={value}", 1.0))
    return [*features, (f"final_kind={kind}", 1.0)]


def _choice(answer: str | None) -> str | None:
    if answer is None or not answer.strip():
        return None
    kind, _, value = final_answer(answer).partition(":")
    return value if kind == "choice" else None


def _length_bucket(length: int) -> str:
    for limit, name in _LENGTH_BUCKETS:
        if length <= limit:
            return name
    return _LENGTH_OVER


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
