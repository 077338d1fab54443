"""One pure function turns what ``decide`` chose into the decision the log keeps.

Routing and a cascade's escalation both call it, so a logged decision is assembled in one
place: its reward window, its review sampling, the routing notes and what is stored of the
prompt follow the policy's settings the same way for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bandit.decide import Routed, RoutingNotes
from bandit.eligibility import Constraints
from bandit.judge import sample_for_judge
from bandit.review import sample_for_review
from bandit.types import Context
from domain.catalog import FeatureValue, PolicyRecord
from domain.log import OPEN, SKIPPED, ChatTurn, DecisionRecord, ExperimentAssignment

__all__ = ["LearnerState", "new_decision"]


@dataclass(frozen=True, slots=True)
class LearnerState:
    """The policy learner a decision was made with: its revision, version and count learned."""

    revision: int
    version: int
    learned_count: int


def new_decision(
    *,
    decision_id: str,
    policy: PolicyRecord,
    learner: LearnerState,
    routed: Routed,
    context: Context,
    constraints: Constraints,
    request_hash: str,
    now: float,
    caller_features: Mapping[str, FeatureValue],
    prompt: str | None,
    prompt_hash: str | None,
    prompt_tokens: float,
    trace_id: str | None,
    experiment: ExperimentAssignment | None = None,
    experiment_unit: str | None = None,
    tried: tuple[str, ...] = (),
    hidden_fallbacks: frozenset[str] = frozenset(),
    fallback_of: str | None = None,
    escalation_of: str | None = None,
    prior_cost_usd: float | None = None,
    judge_open: bool = True,
    conversation: tuple[ChatTurn, ...] | None = None,
    session_key: str | None = None,
    continues: str | None = None,
) -> DecisionRecord:
    """The decision ``routed`` makes for ``policy``, open for feedback from ``now``.

    ``prompt`` and ``conversation`` are kept only when the policy stores prompts;
    ``hidden_fallbacks`` are arms that are not models (a cascade's "accept") and so are never
    offered as fallbacks.
    ``continues``: the session's first decision, when this is a later turn kept on its model
    (not learned, and not sampled for the judge: the session's first answer is).
    ``judge_open`` False (the judge is over its hourly cap or behind) samples nothing for the
    judge: a decision left out then is left out whatever its answer, so the sample stays
    representative.
    """
    wait = policy.config.reward.wait_seconds
    return DecisionRecord(
        id=decision_id,
        policy=policy.name,
        policy_revision=learner.revision,
        policy_version=learner.version,
        learned_count=learner.learned_count,
        request_hash=request_hash,
        context=context,
        arms=routed.arms,
        pmf=routed.pmf,
        chosen_index=routed.chosen,
        caller_features=dict(caller_features),
        prompt_hash=prompt_hash,
        prompt=prompt if policy.config.store_prompts else None,
        conversation=conversation if policy.config.store_prompts else None,
        session_key=session_key,
        continues=continues,
        experiment=experiment,
        created_at=now,
        # A continuation is never learned: its model was the session's, not the bandit's.
        join_status=OPEN if continues is None else SKIPPED,
        window_closes_at=now + wait if wait > 0 and continues is None else None,
        experiment_unit=experiment_unit,
        # Stratified by the model actually served, so each model's reviews weigh by its rate.
        review_probability=sample_for_review(policy.config.review, decision_id, routed.model),
        judge_probability=sample_for_judge(policy.config.judge, decision_id)
        if judge_open and continues is None
        else None,
        trace_id=trace_id,
        routing=RoutingNotes(
            constraints=constraints.as_dict(),
            excluded=routed.excluded,
            fallbacks=tuple(m for m in routed.fallbacks if m not in hidden_fallbacks),
            cooldowns_ignored=routed.cooldowns_ignored,
            tried=tried,
            prompt_tokens=prompt_tokens,
        ),
        fallback_of=fallback_of,
        escalation_of=escalation_of,
        prior_cost_usd=prior_cost_usd,
    )
