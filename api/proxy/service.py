"""The proxy: decide through the route service, call the chosen provider, retry, fall back,
run a cascade, and report each call's latency, tokens, cost and errors as feedback.

Every model called for a request is the chosen model of a logged decision: the first route,
each fallback (``fallback_of`` the decision that failed, ``candidates`` the next model of the
first decision's ``fallbacks``), and a cascade's escalation. Retries of one model after a 429,
a 5xx, a timeout or a connection error stay within its decision. Feedback goes through
``RouterService.feedback`` with source ``"proxy"``, one per decision, like any application's.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from api.proxy.calls import ModelCalls, Started
from api.proxy.chat import (
    AnswerAssembler,
    ChatRequest,
    answer_text,
    canonical,
    completion_chunks,
    shown_answer,
    transcript,
)
from api.proxy.cost import call_cost
from api.proxy.errors import ProxyError
from api.proxy.judge import judge_body, judge_score
from api.proxy.provider import ProviderError, Usage
from api.proxy.sse import DONE, encode
from api.service.catalog import Catalog
from api.service.judging import JudgeService
from api.service.reviews import ReviewService
from api.service.router import Escalation, RouteRequest, RouterService
from api.settings import ProxySettings
from bandit.cascade import ACCEPT
from bandit.errors import InvalidInputError, NotFoundError
from bandit.implicit import ImplicitSignals
from bandit.reward import PROXY_SOURCE
from domain import (
    MAX_ANSWER_CHARS,
    MAX_LATENCY_MS,
    MAX_TOKENS,
    ApiKey,
    ChatTurn,
    DecisionRecord,
    FeedbackInput,
)
from features.signals import EscalationSignals

__all__ = ["FEEDBACK_SOURCE", "Answer", "ProxyService"]

_log = logging.getLogger(__name__)

#: The feedback source of what the proxy observed (latency, tokens, cost, errors; no score).
FEEDBACK_SOURCE = PROXY_SOURCE
_MAX_ERROR = 1000


@dataclass(slots=True)
class Answer:
    """The answer of ``decision_id``'s model: a ``completion``, or SSE ``events`` (bytes)."""

    decision_id: str
    model: str
    completion: dict[str, Any] | None = None
    events: AsyncIterator[bytes] | None = None
    #: A cascade's escalation decision (score it with the final answer's quality).
    escalation_id: str | None = None
    cost_usd: float | None = None
    #: Stores the call's feedback: run it once the answer is sent (it is not the client's wait).
    report: Callable[[], Awaitable[object]] | None = None


class _AttemptFailedError(Exception):
    def __init__(self, error: ProviderError, latency_ms: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.latency_ms = latency_ms


class ProxyService:
    def __init__(
        self,
        router: RouterService,
        catalog: Catalog,
        calls: ModelCalls,
        settings: ProxySettings,
        *,
        judging: JudgeService | None = None,
        reviews: ReviewService | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """``client``: the providers' connection pool, closed with the service. After each
        answer, ``reviews`` keeps it (policies that store prompts) and ``judging`` grades it
        (decisions in the judge's sample)."""
        self._router = router
        self._catalog = catalog
        self._calls = calls
        self._settings = settings
        self._judging = judging
        self._reviews = reviews
        self._monotonic = monotonic
        self._client = client

    def start(self) -> None:
        """Nothing to start: the pool connects on first use."""

    async def close(self) -> None:
        """Close the providers' connection pool, after the last request."""
        if self._client is not None:
            await self._client.aclose()

    async def complete(self, request: ChatRequest, caller: ApiKey) -> Answer:
        """Answer ``request`` through the model its policy chooses (or its fallbacks)."""
        policy = self._catalog.policy(request.policy)
        if policy.config.cascade is not None:
            # A cascade routes every request afresh: its turns are not kept on one model.
            first = await self._router.route(self._route_request(request, caller))
            return await self._cascade(request, caller, first)
        first = await self._router.route(self._route_request(request, caller, session=True))
        if policy.config.implicit.enabled:
            await self._note_regeneration(first, request, policy.config.implicit)
        return await self._serve(request, caller, first, stream=request.stream)

    async def _note_regeneration(
        self, decision: DecisionRecord, request: ChatRequest, implicit: ImplicitSignals
    ) -> None:
        try:
            await self._router.note_regeneration(
                decision, canonical(request.turns), within=implicit.regeneration_seconds
            )
        except Exception:  # a signal lost is no reason to fail the request
            _log.exception("could not record the regeneration answered by %s", decision.id)

    def _route_request(
        self,
        request: ChatRequest,
        caller: ApiKey,
        *,
        candidates: tuple[str, ...] | None = None,
        fallback_of: str | None = None,
        session: bool = False,
    ) -> RouteRequest:
        """``session``: the request may continue a session (its first route only)."""
        return RouteRequest(
            policy=request.policy,
            prompt=request.prompt,
            features=request.features,
            candidates=candidates,
            unit_id=request.user,
            allowed_models=caller.models,
            fallback_of=fallback_of,
            callable_only=True,
            conversation=request.turns,
            session_id=request.session_id if session else None,
            continues_conversation=request.continues_conversation if session else None,
        )

    async def _serve(
        self,
        request: ChatRequest,
        caller: ApiKey,
        decision: DecisionRecord,
        *,
        stream: bool,
        session: bool = True,
    ) -> Answer:
        """Call ``decision``'s model; when it fails, fall back down its ``fallbacks``.
        ``session`` False: the answer carries no session on (a cascade's first answer)."""
        session_of = (decision.continues or decision.id) if session else None
        fallbacks = list(() if decision.routing is None else decision.routing.fallbacks)
        failures: list[str] = []
        while True:
            try:
                started = await self._attempt(decision, request, stream=stream)
            except _AttemptFailedError as failed:
                error = failed.error
                failures.append(f"{decision.chosen_model} (decision {decision.id}): {error}")
                if error.kind == "refused":
                    # The request was bad, not the model: no error feedback against it.
                    raise ProxyError(
                        f"The provider of {decision.chosen_model} refused the request: {error}",
                        status=_client_status(error.status),
                        code="invalid_request_error",
                    ) from error
                following = await self._fallback(request, caller, decision, fallbacks, failures)
                await self._report(
                    decision,
                    failed.latency_ms,
                    Usage(),
                    error=str(error),
                    fallback=following is not None,
                )
                if following is None:
                    raise ProxyError(
                        "No model could answer this request. " + " ".join(failures),
                        status=502,
                        code="provider_error",
                    ) from error
                decision = following
                continue
            return await self._answer(
                decision, started, request, stream=stream, session_of=session_of
            )

    async def _fallback(
        self,
        request: ChatRequest,
        caller: ApiKey,
        failed: DecisionRecord,
        fallbacks: list[str],
        failures: list[str],
    ) -> DecisionRecord | None:
        """The next model's decision (a fallback of ``failed``), or None when none is left."""
        while fallbacks and len(failures) <= self._settings.max_fallbacks:
            model = fallbacks.pop(0)
            try:
                return await self._router.route(
                    self._route_request(request, caller, candidates=(model,), fallback_of=failed.id)
                )
            except (InvalidInputError, NotFoundError) as error:
                # Retired, or no longer eligible, since the first decision: try the next one.
                failures.append(f"{model}: not routable now ({error})")
        return None

    async def _attempt(
        self, decision: DecisionRecord, request: ChatRequest, *, stream: bool
    ) -> Started:
        """Call the decision's model, retrying a 429, 5xx, timeout or connection error with
        backoff (``Retry-After`` honoured up to its cap). Raises ``_AttemptFailedError``."""
        model = self._catalog.model(decision.chosen_model)
        began = self._monotonic()
        try:
            return await self._calls.call(model, request.body, stream=stream, seed=decision.id)
        except ProviderError as error:
            raise _AttemptFailedError(error, self._elapsed_ms(began)) from error

    async def _answer(
        self,
        decision: DecisionRecord,
        started: Started,
        request: ChatRequest,
        *,
        stream: bool,
        session_of: str | None = None,
    ) -> Answer:
        """``session_of``: the first decision of the session this answer carries on (None:
        the answer starts no session, a cascade's)."""
        model = started.model
        if started.completion is not None:
            usage = started.completion.usage
            latency_ms = self._elapsed_ms(started.began)
            completion = started.completion.body
            shown = shown_answer(completion)
            await self._remember(decision, request, shown, session_of)
            answer = Answer(
                decision.id,
                model.id,
                completion=completion,
                cost_usd=call_cost(model, usage),
                report=functools.partial(
                    self._answered, decision, request, shown, latency_ms, usage
                ),
            )
            if stream:  # asked for a stream, answered whole (a cascade's first answer)
                chunks = completion_chunks(completion, include_usage=request.include_usage)
                answer.events = _replay(chunks)
            return answer
        events = self._relay(decision, started, request, session_of=session_of)
        return Answer(decision.id, model.id, events=events)

    async def _relay(
        self,
        decision: DecisionRecord,
        started: Started,
        request: ChatRequest,
        *,
        session_of: str | None,
    ) -> AsyncIterator[bytes]:
        """The stream to the client; a provider failing mid-stream becomes an error event."""
        stream, rest = started.stream, started.rest
        assert stream is not None
        assert rest is not None
        assembled = AnswerAssembler()
        try:
            for chunk in started.first:
                assembled.add(chunk)
                if (shown := _shown(chunk, request.include_usage)) is not None:
                    yield encode(shown)
            async for chunk in rest:
                assembled.add(chunk)
                if (shown := _shown(chunk, request.include_usage)) is not None:
                    yield encode(shown)
        except ProviderError as error:
            yield encode(
                {
                    "error": {
                        "message": f"{decision.chosen_model} failed mid-stream: {error}",
                        "type": "provider_error",
                        "code": error.status or "stream_broken",
                    }
                }
            )
            await self._report(
                decision, self._elapsed_ms(started.began), stream.usage, error=str(error)
            )
            return
        finally:
            await stream.aclose()
        latency_ms = self._elapsed_ms(started.began)
        await self._remember(decision, request, assembled.text(), session_of)
        yield DONE
        await self._answered(decision, request, assembled.text(), latency_ms, stream.usage)

    async def _cascade(self, request: ChatRequest, caller: ApiKey, first: DecisionRecord) -> Answer:
        """First model answers (whole), a rule reads signals off that answer (and the probe's),
        the escalation decision keeps it or names a stronger model, which then answers."""
        cascade = self._catalog.policy(request.policy).config.cascade
        assert cascade is not None
        kept = await self._serve(request, caller, first, stream=False, session=False)
        assert kept.completion is not None
        if kept.report is not None:
            await kept.report()
        spent = kept.cost_usd
        first_text = answer_text(kept.completion)
        probe_text: str | None = None
        if cascade.probe is not None:
            probe_text, probe_cost = await self._side_call(cascade.probe, request.body)
            spent = _plus(spent, probe_cost)
        judged: float | None = None
        if cascade.judge is not None:
            reply, judge_cost = await self._side_call(
                cascade.judge, judge_body(request.prompt, first_text)
            )
            judged = None if reply is None else judge_score(reply)
            spent = _plus(spent, judge_cost)
        signals = EscalationSignals(
            judge_score=judged,
            answer=first_text[:MAX_ANSWER_CHARS],
            probe_answer=None if probe_text is None else probe_text[:MAX_ANSWER_CHARS],
        )
        escalation = await self._router.route(
            RouteRequest(
                policy=request.policy,
                escalate=Escalation(of=kept.decision_id, signals=signals, cost_usd=spent),
                allowed_models=caller.models,
                callable_only=True,
            )
        )
        if escalation.chosen_model == ACCEPT:
            # Keeping the first answer costs nothing more (what it cost is the prior cost).
            await self._report(escalation, 0.0, Usage(0, 0))
            return _kept(kept, request, escalation.id)
        try:
            started = await self._attempt(escalation, request, stream=request.stream)
        except _AttemptFailedError as failed:
            # The first answer is still an answer: better than none.
            await self._report(escalation, failed.latency_ms, Usage(), error=str(failed.error))
            return _kept(kept, request, escalation.id)
        answer = await self._answer(escalation, started, request, stream=request.stream)
        answer.escalation_id = escalation.id
        return answer

    async def _side_call(
        self, model_id: str, body: Mapping[str, Any]
    ) -> tuple[str | None, float | None]:
        """A call that is no decision's answer (a cascade's probe or judge): its text and cost.
        One that fails gives no signal; the escalation is still asked, without it."""
        model = self._catalog.models.get(model_id)
        if model is None:
            _log.warning("cascade model %s is not in the catalog; its signal is skipped", model_id)
            return None, None
        try:
            started = await self._calls.call(model, body, stream=False, seed=model_id)
        except ProviderError as error:
            _log.warning("cascade call to %s failed; its signal is skipped: %s", model_id, error)
            return None, None
        assert started.completion is not None
        return answer_text(started.completion.body), call_cost(model, started.completion.usage)

    async def _report(
        self,
        decision: DecisionRecord,
        latency_ms: float,
        usage: Usage,
        *,
        error: str | None = None,
        fallback: bool = False,
    ) -> float | None:
        """The call's feedback (source ``proxy``); returns its cost. The answer is already
        the client's, so a failure to store feedback is logged, not raised."""
        model = self._catalog.models.get(decision.chosen_model)
        cost = None if model is None else call_cost(model, usage)
        try:
            await self._router.feedback(
                FeedbackInput(
                    decision_id=decision.id,
                    source=FEEDBACK_SOURCE,
                    cost_usd=cost,
                    latency_ms=min(max(latency_ms, 0.0), MAX_LATENCY_MS),
                    error=None if error is None else error[:_MAX_ERROR],
                    idempotency_key=f"proxy:{decision.id}",
                    fallback=fallback,
                    input_tokens=_tokens(usage.input_tokens),
                    output_tokens=_tokens(usage.output_tokens),
                )
            )
        except Exception:
            _log.exception("could not record the proxy's feedback on decision %s", decision.id)
        return cost

    async def _answered(
        self,
        decision: DecisionRecord,
        request: ChatRequest,
        answer: str,
        latency_ms: float,
        usage: Usage,
    ) -> None:
        """After an answer was sent: its feedback first (a judge's grade closes the reward
        window, which must hold the call's cost by then), then the answer kept for review
        and offered to the judge."""
        await self._report(decision, latency_ms, usage)
        if self._reviews is not None:
            await self._reviews.keep_answer(decision, answer)
        if self._judging is not None:
            self._judging.offer(decision, transcript(request.turns), answer)

    async def _remember(
        self, decision: DecisionRecord, request: ChatRequest, answer: str, session_of: str | None
    ) -> None:
        """The conversation with this answer leads to ``decision``'s model: stored before the
        client has the answer, since an agent sends its next turn at once."""
        if session_of is None:
            return
        after = (*request.turns, ChatTurn("assistant", answer))
        try:
            await self._router.remember_turn(
                decision, canonical(after), session_decision=session_of
            )
        except Exception:  # the answer still goes out; the next turn is routed afresh
            _log.exception("could not remember the conversation of decision %s", decision.id)

    def _elapsed_ms(self, began: float) -> float:
        return (self._monotonic() - began) * 1000.0


def _kept(kept: Answer, request: ChatRequest, escalation_id: str) -> Answer:
    assert kept.completion is not None
    answer = Answer(
        kept.decision_id,
        kept.model,
        completion=kept.completion,
        escalation_id=escalation_id,
        cost_usd=kept.cost_usd,
    )
    if request.stream:
        answer.events = _replay(
            completion_chunks(kept.completion, include_usage=request.include_usage)
        )
    return answer


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield encode(chunk)
    yield DONE


def _shown(chunk: dict[str, Any], include_usage: bool) -> dict[str, Any] | None:
    """The chunk as the client asked for it: the proxy always asks providers for usage, and
    drops the usage chunk when the client did not ask for it."""
    if include_usage:
        return chunk
    if not chunk.get("choices") and chunk.get("usage"):
        return None
    if "usage" in chunk:
        return {k: v for k, v in chunk.items() if k != "usage"}
    return chunk


def _plus(total: float | None, cost: float | None) -> float | None:
    """A sum of costs that stays unknown once one part is."""
    return None if total is None or cost is None else total + cost


def _tokens(count: int | None) -> int | None:
    return None if count is None else min(max(count, 0), MAX_TOKENS)


def _client_status(status: int | None) -> int:
    """A provider's refusal, as the client's status: its 4xx, or 400."""
    return status if status is not None and 400 <= status < 500 else 400
