"""A logged decision with its routing notes, feedback and reward."""

from __future__ import annotations

import msgspec

from api.http import schemas
from api.http.convert._derive import to_wire
from api.http.convert.feedback import feedback_out
from api.http.convert.routing import assignment_out, ranking_out
from bandit.decide import RoutingNotes
from domain import ChatTurn, DecisionRecord

__all__ = ["conversation_out", "decision_out"]


def decision_out(decision: DecisionRecord) -> schemas.DecisionOut:
    reward = decision.reward
    return schemas.DecisionOut(
        decision_id=decision.id,
        policy=decision.policy,
        policy_version=decision.policy_version,
        policy_revision=decision.policy_revision,
        model=decision.chosen_model,
        probability=decision.propensity,
        ranking=ranking_out(decision),
        candidates=[arm.id for arm in decision.arms],
        context={ns.name: dict(ns.features) for ns in decision.context.namespaces},
        features=dict(decision.caller_features),
        prompt_hash=decision.prompt_hash,
        prompt=decision.prompt,
        experiment=assignment_out(decision.experiment),
        created_at=decision.created_at,
        join_status=decision.join_status,
        window_closes_at=decision.window_closes_at,
        feedback=[feedback_out(f) for f in decision.feedback],
        reward=None if reward is None else to_wire(reward, schemas.RewardOut),
        review_probability=decision.review_probability,
        judge_probability=decision.judge_probability,
        response=decision.response,
        conversation=conversation_out(decision.conversation),
        continues=decision.continues,
        routing=None if decision.routing is None else _routing_out(decision.routing),
        fallback_of=decision.fallback_of,
        escalation_of=decision.escalation_of,
        prior_cost_usd=decision.prior_cost_usd,
    )


def _routing_out(notes: RoutingNotes) -> schemas.RoutingOut:
    return schemas.RoutingOut(
        constraints=msgspec.convert(dict(notes.constraints), schemas.AppliedConstraintsOut),
        excluded=dict(notes.excluded),
        fallbacks=list(notes.fallbacks),
        cooldowns_ignored=notes.cooldowns_ignored,
        tried=list(notes.tried),
    )


def conversation_out(turns: tuple[ChatTurn, ...] | None) -> list[schemas.ChatTurnOut] | None:
    return None if turns is None else [to_wire(turn, schemas.ChatTurnOut) for turn in turns]
