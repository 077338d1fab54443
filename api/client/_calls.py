"""Each service call as a value: method, path, query, body and the type of its answer.

The sync and async clients send the same ``Call``s; retries resend the very same value, so
a feedback's idempotency key (made here, once per call) is the same on every attempt.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import msgspec

from api.client._errors import RouterError
from api.http import schemas

__all__ = ["Call", "ExperimentAction", "ExportFormat", "capture_json"]

T = TypeVar("T")

ExperimentAction = Literal["promote", "rollback", "pause", "resume"]
ExportFormat = Literal["dsjson", "jsonl"]
FeatureValue = str | float | bool

#: Reports are computed on demand; give them longer than a route.
REPORT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    #: The answer's type: what its JSON body is decoded into.
    result: type[T]
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    #: Sending it twice has the effect of sending it once.
    repeatable: bool = True
    #: Seconds; None: the client's default.
    timeout: float | None = None


def _segment(value: str) -> str:
    """A path segment, with ``/`` escaped too."""
    return urllib.parse.quote(value, safe="")


def _params(**values: object) -> dict[str, str]:
    """Query parameters, leaving out the unset ones."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _body(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def route(
    prompt: str | None,
    *,
    policy: str,
    features: Mapping[str, FeatureValue] | None,
    candidates: Sequence[str] | None,
    decision_id: str | None,
    unit_id: str | None,
    max_cost_usd: float | None,
    max_latency_ms: float | None,
    require: Mapping[str, FeatureValue] | None,
    fallback_of: str | None,
    escalate: schemas.EscalateIn | None,
) -> Call[schemas.RouteOut]:
    body = schemas.RouteIn(
        policy=policy,
        prompt=prompt,
        features=None if features is None else dict(features),
        candidates=None if candidates is None else list(candidates),
        decision_id=decision_id,
        unit_id=unit_id,
        max_cost_usd=max_cost_usd,
        max_latency_ms=max_latency_ms,
        require=None if require is None else dict(require),
        fallback_of=fallback_of,
        escalate=escalate,
    )
    # With a decision id the service answers a repeat with the same decision.
    return Call(
        "POST", "/v1/route", schemas.RouteOut, body=_body(body), repeatable=decision_id is not None
    )


def feedback(body: schemas.FeedbackIn) -> Call[schemas.FeedbackOut]:
    if body.idempotency_key is None:
        body = msgspec.structs.replace(body, idempotency_key=f"client-{uuid.uuid4().hex}")
    return Call("POST", "/v1/feedback", schemas.FeedbackOut, body=_body(body))


def void_feedback(feedback_id: str, reason: str) -> Call[schemas.VoidOut]:
    return Call(
        "POST",
        f"/v1/feedback/{_segment(feedback_id)}/void",
        schemas.VoidOut,
        body=_body(schemas.VoidIn(reason=reason)),
    )


def post_response(decision_id: str, text: str) -> Call[schemas.ResponseOut]:
    # The first answer stays; the same text again is a 200, so a repeat is harmless.
    return Call(
        "POST",
        f"/v1/decisions/{_segment(decision_id)}/response",
        schemas.ResponseOut,
        body=_body(schemas.ResponseIn(text=text)),
    )


def review_queue(
    policy: str, *, reviewer: str | None, limit: int | None
) -> Call[schemas.ReviewQueueOut]:
    return Call(
        "GET",
        "/v1/review/queue",
        schemas.ReviewQueueOut,
        _params(policy=policy, reviewer=reviewer, limit=limit),
    )


def decision(decision_id: str) -> Call[schemas.DecisionOut]:
    return Call("GET", f"/v1/decisions/{_segment(decision_id)}", schemas.DecisionOut)


def models() -> Call[list[schemas.ModelOut]]:
    return Call("GET", "/v1/models", list[schemas.ModelOut])


def model(model_id: str) -> Call[schemas.ModelOut]:
    return Call("GET", f"/v1/models/{_segment(model_id)}", schemas.ModelOut)


def put_model(model_id: str, body: schemas.ModelIn) -> Call[schemas.ModelOut]:
    return Call("PUT", f"/v1/models/{_segment(model_id)}", schemas.ModelOut, body=_body(body))


def policies() -> Call[list[schemas.PolicyOut]]:
    return Call("GET", "/v1/policies", list[schemas.PolicyOut])


def policy(name: str) -> Call[schemas.PolicyOut]:
    return Call("GET", f"/v1/policies/{_segment(name)}", schemas.PolicyOut)


def put_policy(name: str, body: schemas.PolicyIn) -> Call[schemas.PolicyOut]:
    return Call("PUT", f"/v1/policies/{_segment(name)}", schemas.PolicyOut, body=_body(body))


def policy_versions(name: str) -> Call[schemas.VersionsOut]:
    return Call("GET", f"/v1/policies/{_segment(name)}/versions", schemas.VersionsOut)


def rollback_policy(name: str, version: int) -> Call[schemas.RollbackOut]:
    return Call(
        "POST",
        f"/v1/policies/{_segment(name)}/rollback",
        schemas.RollbackOut,
        body=_body(schemas.RollbackIn(version=version)),
        # A second rollback to the same version makes yet another live version.
        repeatable=False,
    )


def experiments(policy: str | None) -> Call[list[schemas.ExperimentOut]]:
    return Call("GET", "/v1/experiments", list[schemas.ExperimentOut], _params(policy=policy))


def experiment(experiment_id: str) -> Call[schemas.ExperimentReportOut]:
    return Call("GET", f"/v1/experiments/{_segment(experiment_id)}", schemas.ExperimentReportOut)


def create_experiment(body: schemas.ExperimentIn) -> Call[schemas.ExperimentOut]:
    return Call(
        "POST", "/v1/experiments", schemas.ExperimentOut, body=_body(body), repeatable=False
    )


def experiment_action(
    experiment_id: str, action: ExperimentAction
) -> Call[schemas.ExperimentReportOut]:
    return Call(
        "POST",
        f"/v1/experiments/{_segment(experiment_id)}/{_segment(action)}",
        schemas.ExperimentReportOut,
        repeatable=False,
    )


def drift(
    policy: str,
    *,
    since: float | str | None,
    until: float | str | None,
    bucket_seconds: float | None,
    success_threshold: float | None,
    psi_threshold: float | None,
    group_by: str | None,
) -> Call[schemas.DriftOut]:
    return Call(
        "GET",
        f"/v1/policies/{_segment(policy)}/drift",
        schemas.DriftOut,
        _params(
            since=since,
            until=until,
            bucket_seconds=bucket_seconds,
            success_threshold=success_threshold,
            psi_threshold=psi_threshold,
            group_by=group_by,
        ),
        timeout=REPORT_TIMEOUT_SECONDS,
    )


def evaluation(
    policy: str,
    *,
    since: float | None,
    until: float | None,
    resamples: int | None,
    counterfactual: bool | None,
) -> Call[schemas.EvaluationOut]:
    return Call(
        "GET",
        f"/v1/policies/{_segment(policy)}/evaluation",
        schemas.EvaluationOut,
        _params(since=since, until=until, resamples=resamples, counterfactual=counterfactual),
        timeout=REPORT_TIMEOUT_SECONDS,
    )


def export(
    policy: str,
    *,
    format: ExportFormat,
    since: float | str | None,
    until: float | str | None,
    unlabeled: Literal["skip", "include"] | None,
) -> Call[bytes]:
    return Call(
        "GET",
        f"/v1/policies/{_segment(policy)}/export",
        bytes,
        _params(format=format, since=since, until=until, unlabeled=unlabeled),
        timeout=REPORT_TIMEOUT_SECONDS,
    )


def create_key(body: schemas.KeyIn) -> Call[schemas.CreatedKeyOut]:
    return Call("POST", "/v1/keys", schemas.CreatedKeyOut, body=_body(body), repeatable=False)


def keys() -> Call[list[schemas.KeyOut]]:
    return Call("GET", "/v1/keys", list[schemas.KeyOut])


def revoke_key(key_id: str) -> Call[schemas.KeyOut]:
    return Call("DELETE", f"/v1/keys/{_segment(key_id)}", schemas.KeyOut)


def audit(*, limit: int | None, before: int | None) -> Call[list[schemas.AuditEntryOut]]:
    return Call(
        "GET", "/v1/audit", list[schemas.AuditEntryOut], _params(limit=limit, before=before)
    )


def status() -> Call[schemas.StatusOut]:
    return Call("GET", "/v1/status", schemas.StatusOut)


def health() -> Call[schemas.HealthOut]:
    return Call("GET", "/health", schemas.HealthOut)


#: The bodies decoded while ``capture_json`` is open in this context (thread or task).
_CAPTURED: ContextVar[list[bytes] | None] = ContextVar("captured_answers", default=None)


def decode(call: Call[T], content: bytes, *, status: int) -> T:
    """The answer's body as ``call.result``; fields the client does not know are ignored,
    so a newer service does not break an older client. A body of another shape (a login
    page of a proxy, a URL that is not the router's) is a ``RouterError`` too."""
    captured = _CAPTURED.get()
    if captured is not None:
        captured.append(content)
    try:
        return msgspec.json.decode(content, type=call.result)
    except msgspec.DecodeError as error:  # ValidationError included
        raise RouterError(
            f"The answer to {call.method} {call.path} is not the router's ({error}); "
            "is the URL the router's?",
            status=status,
        ) from error


@contextmanager
def capture_json(what: object) -> Iterator[list[Any]]:
    """Collect, as parsed JSON, the answer of the one call made inside the block; ``what``
    names that call in the error raised when the block made none or several."""
    bodies: list[bytes] = []
    answers: list[Any] = []
    token = _CAPTURED.set(bodies)
    try:
        yield answers
    finally:
        _CAPTURED.reset(token)
    if len(bodies) != 1:
        raise ValueError(
            f"{what!r} made {len(bodies)} decoded calls; as_json takes a method of the client "
            "that makes exactly one (export streams, so it has none)."
        )
    answers.append(json.loads(bodies[0]))
