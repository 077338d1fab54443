"""Conversions between wire schemas and domain values, one module per feature."""

from api.http.convert.catalog import endpoint_in, model_out, model_spec, policy_config, policy_out
from api.http.convert.decisions import conversation_out, decision_out
from api.http.convert.feedback import feedback_in, feedback_out
from api.http.convert.routing import (
    assignment_out,
    constraints_in,
    escalation_in,
    ranking_out,
    route_out,
)

__all__ = [
    "assignment_out",
    "constraints_in",
    "conversation_out",
    "decision_out",
    "endpoint_in",
    "escalation_in",
    "feedback_in",
    "feedback_out",
    "model_out",
    "model_spec",
    "policy_config",
    "policy_out",
    "ranking_out",
    "route_out",
]
