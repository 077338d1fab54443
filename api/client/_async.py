"""``AsyncRouterClient``: the service's calls for asyncio, over one ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, ParamSpec, TypeVar

import httpx

from api.client import _calls
from api.client._calls import Call, ExperimentAction, ExportFormat, FeatureValue
from api.client._config import headers, resolve, stopped_detail, unreachable_detail
from api.client._errors import UnreachableError, error_for
from api.client._retry import RetryPolicy
from api.http import schemas

__all__ = ["AsyncExportStream", "AsyncRouterClient"]

T = TypeVar("T")
P = ParamSpec("P")


class AsyncExportStream:
    """An export being received: iterate it once, as lines, records or raw bytes."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def lines(self) -> AsyncIterator[str]:
        """One JSON document per line, without the newline."""
        async for line in _cut_short(self._response, self._response.aiter_lines()):
            if line:
                yield line

    async def records(self) -> AsyncIterator[Any]:
        """Each line parsed (DSJSON or log entries: their shapes are in docs/inspection.md)."""
        async for line in self.lines():
            yield json.loads(line)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, for copying to a file."""
        async for chunk in _cut_short(self._response, self._response.aiter_bytes()):
            yield chunk


async def _cut_short(response: httpx.Response, parts: AsyncIterator[T]) -> AsyncIterator[T]:
    """``parts``; a connection lost mid-body raises ``UnreachableError``, as before the
    first byte, so a caller catches one error tree."""
    try:
        async for part in parts:
            yield part
    except httpx.TransportError as error:
        raise UnreachableError(stopped_detail(response, error)) from error


class AsyncRouterClient:
    """The router's HTTP API, typed: answers are the service's own wire structs
    (``api.http.schemas``), refusals raise ``RouterError`` subclasses with its ``detail``.

    ``base_url`` and ``key`` default to ``$BANDIT_ROUTER_URL`` and ``$BANDIT_ROUTER_KEY``.
    Calls refused with 429/503, or that got no answer, are retried per ``retry``.
    Use it as an async context manager, or ``await aclose()`` it.
    """

    def __init__(
        self,
        base_url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url, key = resolve(base_url, key)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers(key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- routing and feedback ----------------------------------------------------------------

    async def route(
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
        return await self._send(
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

    async def feedback(
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
        return await self._send(
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

    async def void_feedback(self, feedback_id: str, reason: str) -> schemas.VoidOut:
        return await self._send(_calls.void_feedback(feedback_id, reason))

    async def post_response(self, decision_id: str, text: str) -> schemas.ResponseOut:
        """The model's answer to a routed request, for reviewers (kept only when the policy
        stores prompts)."""
        return await self._send(_calls.post_response(decision_id, text))

    async def review_queue(
        self, policy: str, *, reviewer: str | None = None, limit: int | None = None
    ) -> schemas.ReviewQueueOut:
        """Decisions sampled for review that no reviewer (or not ``reviewer``) scored yet."""
        return await self._send(_calls.review_queue(policy, reviewer=reviewer, limit=limit))

    async def decision(self, decision_id: str) -> schemas.DecisionOut:
        """A logged decision with its feedback and joined reward."""
        return await self._send(_calls.decision(decision_id))

    # --- catalog -----------------------------------------------------------------------------

    async def models(self) -> list[schemas.ModelOut]:
        return await self._send(_calls.models())

    async def model(self, model_id: str) -> schemas.ModelOut:
        return await self._send(_calls.model(model_id))

    async def put_model(self, model_id: str, model: schemas.ModelIn) -> schemas.ModelOut:
        """Create or replace a model."""
        return await self._send(_calls.put_model(model_id, model))

    async def policies(self) -> list[schemas.PolicyOut]:
        return await self._send(_calls.policies())

    async def policy(self, name: str) -> schemas.PolicyOut:
        return await self._send(_calls.policy(name))

    async def put_policy(self, name: str, policy: schemas.PolicyIn) -> schemas.PolicyOut:
        """Create or replace a policy."""
        return await self._send(_calls.put_policy(name, policy))

    async def policy_versions(self, name: str) -> schemas.VersionsOut:
        return await self._send(_calls.policy_versions(name))

    async def rollback_policy(self, name: str, version: int) -> schemas.RollbackOut:
        """Restore a stored version's learned state (as a new live version)."""
        return await self._send(_calls.rollback_policy(name, version))

    # --- experiments -------------------------------------------------------------------------

    async def experiments(self, policy: str | None = None) -> list[schemas.ExperimentOut]:
        return await self._send(_calls.experiments(policy))

    async def experiment(self, experiment_id: str) -> schemas.ExperimentReportOut:
        return await self._send(_calls.experiment(experiment_id))

    async def create_experiment(self, experiment: schemas.ExperimentIn) -> schemas.ExperimentOut:
        return await self._send(_calls.create_experiment(experiment))

    async def experiment_action(
        self, experiment_id: str, action: ExperimentAction
    ) -> schemas.ExperimentReportOut:
        """promote, rollback, pause or resume by hand."""
        return await self._send(_calls.experiment_action(experiment_id, action))

    # --- inspection --------------------------------------------------------------------------

    async def drift(
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
        return await self._send(
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

    async def evaluation(
        self,
        policy: str,
        *,
        since: float | None = None,
        until: float | None = None,
        resamples: int | None = None,
        counterfactual: bool | None = None,
    ) -> schemas.EvaluationOut:
        """Off-policy evaluation of the policy on its own log."""
        return await self._send(
            _calls.evaluation(
                policy,
                since=since,
                until=until,
                resamples=resamples,
                counterfactual=counterfactual,
            )
        )

    @asynccontextmanager
    async def export(
        self,
        policy: str,
        *,
        format: ExportFormat = "jsonl",
        since: float | str | None = None,
        until: float | str | None = None,
        unlabeled: Literal["skip", "include"] | None = None,
    ) -> AsyncIterator[AsyncExportStream]:
        """The decision log, streamed: ``async with client.export("default") as stream:``
        then ``async for record in stream.records(): ...``; nothing is held in memory beyond
        a line."""
        call = _calls.export(policy, format=format, since=since, until=until, unlabeled=unlabeled)
        response = await self._exchange(call, stream=True)
        try:
            yield AsyncExportStream(response)
        finally:
            await response.aclose()

    # --- access and health -------------------------------------------------------------------

    async def create_key(
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
        return await self._send(
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

    async def keys(self) -> list[schemas.KeyOut]:
        return await self._send(_calls.keys())

    async def revoke_key(self, key_id: str) -> schemas.KeyOut:
        return await self._send(_calls.revoke_key(key_id))

    async def audit(
        self, *, limit: int | None = None, before: int | None = None
    ) -> list[schemas.AuditEntryOut]:
        """Admin changes, newest first; page with ``before`` (the smallest ``seq`` seen)."""
        return await self._send(_calls.audit(limit=limit, before=before))

    async def status(self) -> schemas.StatusOut:
        return await self._send(_calls.status())

    async def health(self) -> schemas.HealthOut:
        return await self._send(_calls.health())

    # --- the service's own JSON ---------------------------------------------------------------

    async def as_json(
        self, method: Callable[P, Awaitable[object]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Any:
        """The JSON the service answered to ``await method(*args, **kwargs)`` (a method of
        this client), parsed but not rebuilt from the typed answer: fields this client does not
        know yet, key order and ``1`` against ``1.0`` stay as sent. For tools that pass the
        answer on, such as the CLI's ``--json``. The answer is still checked against its type.

        ``await client.as_json(client.drift, "default", bucket_seconds=3600)``
        """
        with _calls.capture_json(method) as answers:
            await method(*args, **kwargs)
        return answers[0]

    # --- sending -----------------------------------------------------------------------------

    async def _send(self, call: Call[T]) -> T:
        response = await self._exchange(call, stream=False)
        return _calls.decode(call, response.content, status=response.status_code)

    async def _exchange(self, call: Call[Any], *, stream: bool) -> httpx.Response:
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
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                wait = self._retry.after_transport_error(error, attempt, repeatable=call.repeatable)
                if wait is None:
                    raise UnreachableError(unreachable_detail(self.base_url, error)) from error
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                failure = error_for(response)
                wait = self._retry.after_error(failure, attempt, repeatable=call.repeatable)
                if wait is None:
                    raise failure
            await self._sleep(wait)
