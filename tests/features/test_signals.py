"""Escalation signals: bounds, text turned into features only, and agreement extraction."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandit.types import Context
from features.caller import caller_namespace
from features.errors import FeatureError
from features.signals import (
    ESCALATION_NAMESPACES,
    MAX_ANSWER_CHARS,
    EscalationSignals,
    answers_agree,
    escalation_context,
    final_answer,
    signals_namespace,
)


def _names(signals: EscalationSignals) -> set[str]:
    namespace = signals_namespace(signals)
    assert namespace is not None
    assert namespace.name == "signals"
    return {name for name, _ in namespace.features}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("judge_score", -0.01),
        ("judge_score", 1.01),
        ("judge_score", math.nan),
        ("confidence", math.inf),
        ("confidence", True),
        ("confidence", "0.5"),
    ],
)
def test_scores_outside_zero_one_are_refused_with_a_sentence(field: str, value: object) -> None:
    with pytest.raises(
        FeatureError, match=rf"^The signal {field} must be a number between 0 and 1; got .*\.$"
    ):
        EscalationSignals(**{field: value})  # type: ignore[arg-type]


def test_the_bounds_are_inclusive() -> None:
    assert _names(EscalationSignals(judge_score=0.0, confidence=1.0)) == {
        "judge",
        "judge_q0",
        "confidence",
        "confidence_q4",
    }


@pytest.mark.parametrize("value", [-1, True, 2.5, 10**9])
def test_answer_chars_must_be_a_whole_non_negative_count(value: object) -> None:
    with pytest.raises(FeatureError, match=r"^The signal answer_chars must be a whole number"):
        EscalationSignals(answer_chars=value)  # type: ignore[arg-type]


def test_agree_must_be_a_boolean_and_answers_are_bounded() -> None:
    with pytest.raises(FeatureError, match=r"agree must be true or false; got 'yes'"):
        EscalationSignals(agree="yes")  # type: ignore[arg-type]
    EscalationSignals(answer="x" * MAX_ANSWER_CHARS)
    with pytest.raises(FeatureError, match=rf"{MAX_ANSWER_CHARS + 1} characters long"):
        EscalationSignals(answer="x" * (MAX_ANSWER_CHARS + 1))


def test_disagreement_is_a_feature_not_a_missing_one() -> None:
    assert "agree=false" in _names(EscalationSignals(agree=False))
    assert "agree" in _names(EscalationSignals(agree=True))
    assert signals_namespace(EscalationSignals()) is None


def test_text_becomes_markers_and_never_its_words() -> None:
    answer = (
        "I'm sorry, I am not sure. Maybe this:\n```python\ndef secret_token_xyz():\n    pass\n```"
    )
    names = _names(EscalationSignals(answer=answer))
    assert {"refusal", "uncertain", "code", "chars_le_128", "final_kind=text"} <= names
    rendered = " ".join(names)
    for word in ("secret_token_xyz", "sorry", "python", "def"):
        assert word not in rendered


@given(st.text(max_size=300))
def test_no_answer_text_leaks_into_feature_names(answer: str) -> None:
    namespace = signals_namespace(EscalationSignals(answer=answer))
    assert namespace is not None
    allowed = {
        "refusal",
        "uncertain",
        "code",
        "empty",
        "log_chars",
        *(f"final={c}" for c in "ABCDE"),
        *(f"final={c}&agree={a}" for c in "ABCDE" for a in ("true", "false")),
        *(f"final_kind={k}" for k in ("choice", "number", "text")),
    }
    for name, value in namespace.features:
        assert name in allowed or name.startswith("chars_"), name
        assert math.isfinite(value)


def test_the_length_comes_from_the_text_unless_given() -> None:
    assert "chars_le_2" in _names(EscalationSignals(answer="B"))
    assert "chars_gt_4k" in _names(EscalationSignals(answer="B", answer_chars=5000))
    assert "chars_0" in _names(EscalationSignals(answer_chars=0))


@pytest.mark.parametrize(
    ("answer", "final"),
    [
        ("C", "choice:C"),
        ("A\n", "choice:A"),
        (" (b) Maria", "choice:B"),
        ("D. Planetary density will decrease.", "choice:D"),
        ("The answer is (C).", "choice:C"),
        ("Answer: E", "choice:E"),
        ("#### 72", "number:72"),
        ("so the answer is 1,200.", "number:1200"),
        ("The answer is 3.50", "number:3.5"),
    ],
)
def test_final_answers_are_extracted(answer: str, final: str) -> None:
    assert final_answer(answer) == final


def test_prose_starting_with_a_capital_letter_is_not_a_choice() -> None:
    assert final_answer("A function that returns the sum.").startswith("text:")
    assert final_answer("Because the sky is blue.").startswith("text:")


def test_agreement_compares_final_answers() -> None:
    assert answers_agree("C", "C) four")
    assert answers_agree("The answer is B", "(b)")
    assert answers_agree("#### 12", "the answer is 12.0")
    assert not answers_agree("A", "B")
    assert not answers_agree("#### 12", "#### 13")
    assert answers_agree("Hello   World.", "hello world")
    assert not answers_agree("", "")


def test_choice_and_agreement_are_joined_and_crossed_with_the_task() -> None:
    request = Context((caller_namespace({"task": "quiz"}),))  # type: ignore[arg-type]
    context = escalation_context(request, EscalationSignals(agree=False, answer="C"), "yi 34b")
    names = [ns.name for ns in context.namespaces]
    assert names == ["caller", *ESCALATION_NAMESPACES]
    signals, first, joint = context.namespaces[1:]
    assert ("final=C&agree=false", 1.0) in signals.features
    assert first.features[0][0].startswith("id=~")  # the id is hashed: it holds a space
    assert ("final=C&agree=false*task=quiz", 1.0) in joint.features
    assert len(joint.features) == len(signals.features)


def test_without_caller_features_there_is_no_joint_namespace() -> None:
    context = escalation_context(Context(), EscalationSignals(agree=True), "m")
    assert [ns.name for ns in context.namespaces] == ["signals", "first"]
    with pytest.raises(FeatureError, match="first model must be a non-empty model id"):
        escalation_context(Context(), EscalationSignals(), "")


def test_with_both_answers_the_router_decides_agreement_itself() -> None:
    names = _names(EscalationSignals(answer="C", probe_answer="(c) the moon"))
    assert {"agree", "final=C&agree=true", "final=C&probe=C"} <= names
    names = _names(EscalationSignals(answer="A", probe_answer="B"))
    assert {"agree=false", "final=A&agree=false", "final=A&probe=B"} <= names
    # A caller's own agreement wins over the router's reading of the texts.
    assert "agree" in _names(EscalationSignals(agree=True, answer="A", probe_answer="B"))
    # The probe's text alone says nothing about the first answer.
    assert signals_namespace(EscalationSignals(probe_answer="B")) is None
    with pytest.raises(FeatureError, match="The signal probe_answer must be text"):
        EscalationSignals(probe_answer=3)  # type: ignore[arg-type]
