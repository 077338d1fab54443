# Generated from _async.py by scripts/generate_sync_client.py: edit that file and run
# the script, never this one.
"""``RouterClient``: the service's calls for blocking code, over one ``httpx.Client``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

import httpx

from api.client import _calls
from api.client._calls import Call, ExperimentAction, ExportFormat, FeatureValue
from api.client._config import headers, resolve, stopped_detail, unreachable_detail
from api.client._errors import UnreachableError, error_for
from api.client._retry import RetryPolicy
from api.http import schemas

__all__ = ["ExportStream", "RouterClient"]

T = TypeVar("T")
P = ParamSpec("P")


class ExportStream:
    """An export being received: iterate it once, as lines, records or raw bytes."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def lines(self) -> Iterator[str]:
        """One JSON document per line, without the newline."""
        for line in _cut_short(self._response, self._response.iter_lines()):
            if line:
                yield line

    def records(self) -> Iterator[Any]:
        """Each line parsed (DSJSON or log entries: their shapes are in docs/inspection.md)."""
        for line in self.lines():
            yield json.loads(line)

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives, for copying to a file."""
        yield from _cut_short(self._response, self._response.iter_bytes())


def _cut_short(response: httpx.Response, parts: Iterator[T]) -> Iterator[T]:
    """``parts``; a connection lost mid-body raises ``UnreachableError``, as before the
    first byte, so a caller catches one error tree."""
    try:
        yield from parts
    except httpx.TransportError as error:
        raise UnreachableError(stopped_detail(response, error)) from error


class RouterClient:
    """The router's HTTP API, typed: answers are the service's own wire structs
    (``api.http.schemas``), refusals raise ``RouterError`` subclasses with its ``detail``.

    ``base_url`` and ``key`` default to ``$BANDIT_ROUTER_URL`` and ``$BANDIT_ROUTER_KEY``.
    Calls refused with 429/503, or that got no answer, are retried per ``retry``.
    Use it as a context manager, or ``close()`` it.
    """

    def __init__(
        self,
        base_url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url, key = resolve(base_url, key)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers(key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- routing and feedback ----------------------------------------------------------------

    def route(
        self,
        prompt: str | None = None,
        *,
        policy: str = "default",
        features: Mapping[str, FeatureValue] | None = None,
        candidates: Sequence[str] | None = None,
        decision_id: str | None = None,
        unit_id: str | None = None,
        max_cost_usd: float | None = None,
        max_latency_ms: float | None = None,
        require: Mapping[str, FeatureValue] | None = None,
        fallback_of: str | None = None,
        escalate: schemas.EscalateIn | None = None,
    ) -> schemas.RouteOut:
        """Which model should answer. Only with a ``decision_id`` is a route whose answer
        was lost sent again (the service then repeats the same decision)."""
        return self._send(
            _calls.route(
                prompt,
                policy=policy,
                features=features,
                candidates=candidates,
                decision_id=decision_id,
                unit_id=unit_id,
                max_cost_usd=max_cost_usd,
                max_latency_ms=max_latency_ms,
                require=require,
                fallback_of=fallback_of,
                escalate=escalate,
            )
        )

    def feedback(
        self,
        decision_id: str,
        *,
        score: float | None = None,
        stars: int | None = None,
        source: str = "user",
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        error: str | None = None,
        idempotency_key: str | None = None,
        fallback: bool = False,
        reviewer: str | None = None,
        comment: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> schemas.FeedbackOut:
        """Report what happened. Without an ``idempotency_key`` one is made for this call and
        reused by its retries, so a retried report is stored once (``duplicate`` is then
        true on the answer)."""
        return self._send(
            _calls.feedback(
                schemas.FeedbackIn(
                    decision_id=decision_id,
                    score=score,
                    stars=stars,
                    source=source,
                    cost_usd=cost_usd,
                    latency_ms=latency_ms,
                    error=error,
                    idempotency_key=idempotency_key,
                    fallback=fallback,
                    reviewer=reviewer,
                    comment=comment,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
            )
        )

    def void_feedback(self, feedback_id: str, reason: str) -> schemas.VoidOut:
        return self._send(_calls.void_feedback(feedback_id, reason))

    def post_response(self, decision_id: str, text: str) -> schemas.ResponseOut:
        """The model's answer to a routed request, for reviewers (kept only when the policy
        stores prompts)."""
        return self._send(_calls.post_response(decision_id, text))

    def review_queue(
        self, policy: str, *, reviewer: str | None = None, limit: int | None = None
    ) -> schemas.ReviewQueueOut:
        """Decisions sampled for review that no reviewer (or not ``reviewer``) scored yet."""
        return self._send(_calls.review_queue(policy, reviewer=reviewer, limit=limit))

    def decision(self, decision_id: str) -> schemas.DecisionOut:
        """A logged decision with its feedback and joined reward."""
        return self._send(_calls.decision(decision_id))

    # --- catalog -----------------------------------------------------------------------------

    def models(self) -> list[schemas.ModelOut]:
        return self._send(_calls.models())

    def model(self, model_id: str) -> schemas.ModelOut:
        return self._send(_calls.model(model_id))

    def put_model(self, model_id: str, model: schemas.ModelIn) -> schemas.ModelOut:
        """Create or replace a model."""
        return self._send(_calls.put_model(model_id, model))

    def policies(self) -> list[schemas.PolicyOut]:
        return self._send(_calls.policies())

    def policy(self, name: str) -> schemas.PolicyOut:
        return self._send(_calls.policy(name))

    def put_policy(self, name: str, policy: schemas.PolicyIn) -> schemas.PolicyOut:
        """Create or replace a policy."""
        return self._send(_calls.put_policy(name, policy))

    def policy_versions(self, name: str) -> schemas.VersionsOut:
        return self._send(_calls.policy_versions(name))

    def rollback_policy(self, name: str, version: int) -> schemas.RollbackOut:
        """Restore a stored version's learned state (as a new live version)."""
        return self._send(_calls.rollback_policy(name, version))

    # --- experiments -------------------------------------------------------------------------

    def experiments(self, policy: str | None = None) -> list[schemas.ExperimentOut]:
        return self._send(_calls.experiments(policy))

    def experiment(self, experiment_id: str) -> schemas.ExperimentReportOut:
        return self._send(_calls.experiment(experiment_id))

    def create_experiment(self, experiment: schemas.ExperimentIn) -> schemas.ExperimentOut:
        return self._send(_calls.create_experiment(experiment))

    def experiment_action(
        self, experiment_id: str, action: ExperimentAction
    ) -> schemas.ExperimentReportOut:
        """promote, rollback, pause or resume by hand."""
        return self._send(_calls.experiment_action(experiment_id, action))

    # --- inspection --------------------------------------------------------------------------

    def drift(
        self,
        policy: str,
        *,
        since: float | str | None = None,
        until: float | str | None = None,
        bucket_seconds: float | None = None,
        success_threshold: float | None = None,
        psi_threshold: float | None = None,
        group_by: str | None = None,
    ) -> schemas.DriftOut:
        """The drift report (``group_by=""`` turns grouping off; None: the service's
        default, ``task``)."""
        return self._send(
            _calls.drift(
                policy,
                since=since,
                until=until,
                bucket_seconds=bucket_seconds,
                success_threshold=success_threshold,
                psi_threshold=psi_threshold,
                group_by=group_by,
            )
        )

    def evaluation(
        self,
        policy: str,
        *,
        since: float | None = None,
        until: float | None = None,
        resamples: int | None = None,
        counterfactual: bool | None = None,
    ) -> schemas.EvaluationOut:
        """Off-policy evaluation of the policy on its own log."""
        return self._send(
            _calls.evaluation(
                policy,
                since=since,
                until=until,
                resamples=resamples,
                counterfactual=counterfactual,
            )
        )

    @contextmanager
    def export(
        self,
        policy: str,
        *,
        format: ExportFormat = "jsonl",
        since: float | str | None = None,
        until: float | str | None = None,
        unlabeled: Literal["skip", "include"] | None = None,
    ) -> Iterator[ExportStream]:
        """The decision log, streamed: ``with client.export("default") as stream:``
        then ``for record in stream.records(): ...``; nothing is held in memory beyond
        a line."""
        call = _calls.export(policy, format=format, since=since, until=until, unlabeled=unlabeled)
        response = self._exchange(call, stream=True)
        try:
            yield ExportStream(response)
        finally:
            response.close()

    # --- access and health -------------------------------------------------------------------

    def create_key(
        self,
        name: str,
        scopes: Sequence[schemas.Scope],
        *,
        policies: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        expires_at: float | None = None,
        rate_per_second: float | None = None,
    ) -> schemas.CreatedKeyOut:
        """A new API key; its secret (``key``) is shown this once."""
        return self._send(
            _calls.create_key(
                schemas.KeyIn(
                    name=name,
                    scopes=list(scopes),
                    policies=None if policies is None else list(policies),
                    models=None if models is None else list(models),
                    expires_at=expires_at,
                    rate_per_second=rate_per_second,
                )
            )
        )

    def keys(self) -> list[schemas.KeyOut]:
        return self._send(_calls.keys())

    def revoke_key(self, key_id: str) -> schemas.KeyOut:
        return self._send(_calls.revoke_key(key_id))

    def audit(
        self, *, limit: int | None = None, before: int | None = None
    ) -> list[schemas.AuditEntryOut]:
        """Admin changes, newest first; page with ``before`` (the smallest ``seq`` seen)."""
        return self._send(_calls.audit(limit=limit, before=before))

    def status(self) -> schemas.StatusOut:
        return self._send(_calls.status())

    def health(self) -> schemas.HealthOut:
        return self._send(_calls.health())

    # --- the service's own JSON ---------------------------------------------------------------

    def as_json(self, method: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """The JSON the service answered to ``method(*args, **kwargs)`` (a method of
        this client), parsed but not rebuilt from the typed answer: fields this client does not
        know yet, key order and ``1`` against ``1.0`` stay as sent. For tools that pass the
        answer on, such as the CLI's ``--json``. The answer is still checked against its type.

        ``client.as_json(client.drift, "default", bucket_seconds=3600)``
        """
        with _calls.capture_json(method) as answers:
            method(*args, **kwargs)
        return answers[0]

    # --- sending -----------------------------------------------------------------------------

    def _send(self, call: Call[T]) -> T:
        response = self._exchange(call, stream=False)
        return _calls.decode(call, response.content, status=response.status_code)

    def _exchange(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """The successful response to ``call``, after any retries; else raise."""
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                call.method,
                call.path,
                params=call.params,
                content=call.body,
                headers={"content-type": "application/json"} if call.body is not None else None,
                timeout=httpx.USE_CLIENT_DEFAULT if call.timeout is None else call.timeout,
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                wait = self._retry.after_transport_error(error, attempt, repeatable=call.repeatable)
                if wait is None:
                    raise UnreachableError(unreachable_detail(self.base_url, error)) from error
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                failure = error_for(response)
                wait = self._retry.after_error(failure, attempt, repeatable=call.repeatable)
                if wait is None:
                    raise failure
            self._sleep(wait)
