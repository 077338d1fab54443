"""Routing and feedback: the two calls every application makes."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock, new_id
from api.service.live_learner import PolicyLearner
from api.service.sessions import SessionKeeper
from api.telemetry.sink import DecisionTraced, FeedbackScored, NullSink, TelemetrySink
from bandit.cascade import ACCEPT, ACCEPT_ARM, CascadeSpec, escalation_policy_name
from bandit.decide import Candidate, Overlay, Routed, decide
from bandit.eligibility import Constraints, ModelFacts
from bandit.errors import ConflictError, InvalidInputError, LimitExceededError, NotFoundError
from bandit.implicit import IMPLICIT_SOURCE
from bandit.judge import JudgeSettings
from bandit.types import Arm, Context
from domain import (
    ChatTurn,
    DecisionRecord,
    ExperimentAssignment,
    FeatureValue,
    FeedbackInput,
    FeedbackRecord,
    ModelSpec,
    PolicyRecord,
    Session,
    new_decision,
)
from experiments import assign_candidate
from features import Embedder, FeatureError, arm_for_model, extract_context
from features.signals import EscalationSignals, escalation_context
from features.size import estimate_tokens
from storage.codec import constraints_from_json
from storage.decisions import decision_policy, find_decision, get_decision, log_decision
from storage.feedback import record_feedback
from storage.reviews import store_response
from storage.writer import GroupCommitter

__all__ = [
    "Assigner",
    "CascadeStep",
    "Escalation",
    "Learners",
    "ModelObserver",
    "Observed",
    "RouteRequest",
    "RouterService",
]

#: ``(experiment id, unit id, share) -> goes to the candidate``; injectable to test SRM.
Assigner = Callable[[str, str, float], bool]
#: Longest fallback chain: beyond it a request has failed on that many models already.
MAX_FALLBACK_CHAIN = 32


class Observed(Protocol):
    """What feedback has shown about one model (see ``ModelObserver``)."""

    @property
    def p95_latency_ms(self) -> float | None: ...

    @property
    def mean_output_tokens(self) -> float | None: ...

    @property
    def cooldown_reason(self) -> str | None: ...


class ModelObserver(Protocol):
    """Per policy, model id -> what was observed of it; models absent are not observed yet."""

    def observations(self, policy: str) -> Mapping[str, Observed]: ...


class Learners(Protocol):
    """Where routing finds a policy's live learner (``LearnerRegistry`` in the server)."""

    def learner(self, policy: str) -> PolicyLearner: ...


class _NothingObserved:
    def observations(self, policy: str) -> Mapping[str, Observed]:
        return {}


@dataclass(frozen=True, slots=True)
class Escalation:
    """Keep the first answer of decision ``of``, or escalate? ``cost_usd``: what the request
    already cost (None: what feedback on the first decision reported so far)."""

    of: str
    signals: EscalationSignals
    cost_usd: float | None = None

    def canonical(self) -> dict[str, object]:
        return {"of": self.of, "signals": asdict(self.signals), "cost_usd": self.cost_usd}


@dataclass(frozen=True, slots=True)
class CascadeStep:
    """Where a decision stands in its policy's cascade (see ``RouterService.cascade_step``)."""

    stage: Literal["first", "escalation"]
    escalation_policy: str
    probe: str | None = None
    escalation_of: str | None = None


@dataclass(frozen=True, slots=True)
class RouteRequest:
    policy: str = "default"
    prompt: str | None = None
    features: Mapping[str, FeatureValue] | None = None
    candidates: tuple[str, ...] | None = None
    decision_id: str | None = None
    #: What experiment assignment is stable for (a user, a session); the decision id if None.
    unit_id: str | None = None
    #: The request's own limits; the policy's and the key's apply as well.
    constraints: Constraints = field(default_factory=Constraints)
    #: The models the caller's key may use (None: any).
    allowed_models: frozenset[str] | None = None
    #: The decision whose model failed, when this request is its fallback attempt.
    fallback_of: str | None = None
    #: A cascade's escalation question about a first-stage decision.
    escalate: Escalation | None = None
    #: Only models with an ``endpoint`` may be chosen (the proxy calls the model itself).
    callable_only: bool = False
    #: The chat conversation with its roles (the proxy's requests), kept for reviewers where
    #: the policy stores prompts; ``prompt`` is its text.
    conversation: tuple[ChatTurn, ...] | None = None
    #: The caller's session: its turns stay on the model its first turn was routed to.
    session_id: str | None = None
    #: The conversation through its last assistant turn, as canonical text (the proxy's
    #: requests): when the router answered that turn, this one goes to the same model.
    continues_conversation: str | None = None

    def fingerprint(self, key: bytes) -> str:
        """A hash of what was asked, to tell a retry from a different request with the same id.

        Keyed (HMAC-SHA256), like the prompt hash: it covers the prompt, and an unkeyed digest
        of it could be checked against guessed prompts.
        """
        canonical = json.dumps(
            {
                "policy": self.policy,
                "prompt": self.prompt,
                "features": dict(self.features or {}),
                "candidates": None if self.candidates is None else list(self.candidates),
                "unit_id": self.unit_id,
                "constraints": self.constraints.as_dict(),
                "allowed_models": None
                if self.allowed_models is None
                else sorted(self.allowed_models),
                "fallback_of": self.fallback_of,
                "escalate": None if self.escalate is None else self.escalate.canonical(),
                "callable_only": self.callable_only,
                # Only when set: a retry of a decision logged before sessions hashes the same.
                **({} if self.session_id is None else {"session_id": self.session_id}),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


class RouterService:
    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        learners: Learners,
        clock: Clock,
        *,
        prompt_key: bytes,
        max_candidates: int,
        embedder: Embedder,
        assign: Assigner = assign_candidate,
        telemetry: TelemetrySink | None = None,
        name_trace: Callable[[str], str] | None = None,
        observer: ModelObserver | None = None,
        leading: Callable[[], bool] = lambda: True,
        learn_soon: Callable[[], None] = lambda: None,
        judge_open: Callable[[str, JudgeSettings], bool] = lambda policy, judge: True,
        sessions: SessionKeeper | None = None,
    ) -> None:
        """``telemetry`` receives every new decision and feedback; ``name_trace`` gives the
        trace id a decision names (Langfuse on) and is None when there is none."""
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._learners = learners
        self._clock = clock
        self._prompt_key = prompt_key
        self._max_candidates = max_candidates
        self._embedder = embedder
        self._assign = assign
        self._arm_cache: dict[str, tuple[ModelSpec, Arm]] = {}
        self._telemetry: TelemetrySink = telemetry or NullSink()
        self._name_trace = name_trace
        self._observer: ModelObserver = observer or _NothingObserved()
        #: Whether this process holds the learner role (which alone joins rewards).
        self._leading = leading
        #: Wakes the learning loop: new rewards may have been joined.
        self._learn_soon = learn_soon
        #: Whether the policy's judge takes more work now (under its cap, queue not full).
        self._judge_open = judge_open
        #: Conversations kept on one model; None: every request is routed afresh.
        self._sessions = sessions

    async def route(self, request: RouteRequest) -> DecisionRecord:
        """Choose a model and log the decision durably before returning it.

        A retry with the same client ``decision_id`` returns the stored decision.
        """
        policy = self._catalog.policy(request.policy)
        fingerprint = request.fingerprint(self._prompt_key)
        stored = await self._stored(request, fingerprint)
        if stored is not None:
            return stored
        if request.escalate is not None:
            return await self._escalate(policy, request, request.escalate, fingerprint)
        _refuse_escalation_policy(policy)
        session = await self._session_of(policy, request)
        if session is not None:
            continued = await self._continue(policy, request, session, fingerprint)
            if continued is not None:
                return continued
        failed = await self._failed(request)
        record = self._fresh_decision(policy, request, fingerprint, failed)
        logged = await self._log(record, fingerprint)
        await self._keep_session(policy, request, failed, logged)
        return logged

    def _fresh_decision(
        self,
        policy: PolicyRecord,
        request: RouteRequest,
        fingerprint: str,
        failed: DecisionRecord | None,
    ) -> DecisionRecord:
        """The bandit's decision for ``request`` (``failed``: the decision whose model
        failed, when this is its fallback)."""
        tried = _tried_models(failed)
        constraints = _constraints(policy.config.constraints, request)
        context = self._context(policy, request)
        observed = self._observer.observations(policy.name)
        live = self._learners.learner(policy.name)
        decision_id = request.decision_id or new_id()
        prompt_tokens = 0.0 if request.prompt is None else estimate_tokens(request.prompt)
        split = self._split(policy.name, request, decision_id, observed)
        models = self._models(policy, request.candidates)
        routed = decide(
            live.learner,
            decision_id,
            context,
            [self._candidate(m, observed) for m in models],
            policy=policy.name,
            constraints=constraints,
            prompt_tokens=prompt_tokens,
            already_tried={**_uncallable(models, request.callable_only), **_tried(request, tried)},
            overlay=None if split is None else split.overlay,
        )
        in_experiment = split is not None and routed.split
        return new_decision(
            decision_id=decision_id,
            policy=policy,
            learner=live.state,
            routed=routed,
            context=context,
            constraints=constraints,
            request_hash=fingerprint,
            now=self._clock(),
            caller_features=request.features or {},
            prompt=request.prompt,
            prompt_hash=self._keyed_hash(request.prompt),
            prompt_tokens=prompt_tokens,
            trace_id=self._trace_id(decision_id),
            experiment=split.assignment if split is not None and in_experiment else None,
            experiment_unit=self._keyed_hash(request.unit_id) if in_experiment else None,
            tried=tried,
            fallback_of=request.fallback_of,
            judge_open=self._judging(policy),
            conversation=request.conversation,
            session_key=self._new_session_key(policy, request, failed),
        )

    def _new_session_key(
        self, policy: PolicyRecord, request: RouteRequest, failed: DecisionRecord | None
    ) -> str | None:
        """The session a new decision starts (the caller's session id) or carries on (a
        fallback of a decision in a session)."""
        if failed is not None:
            return failed.session_key
        if request.session_id is None or self._sessions is None:
            return None
        return self._sessions.session_key(policy.name, request.session_id)

    async def _session_of(self, policy: PolicyRecord, request: RouteRequest) -> Session | None:
        """The session ``request`` continues, if any: by the caller's session id, or by the
        conversation so far (the proxy's requests). A fallback or a request that names its
        candidates has left the session's model on purpose."""
        keeper = self._sessions
        if keeper is None or request.fallback_of is not None or request.candidates is not None:
            return None
        if policy.config.cascade is not None:
            return None  # every request starts at the first stage
        if request.session_id is not None:
            key = keeper.session_key(policy.name, request.session_id)
        elif request.continues_conversation is not None:
            key = keeper.conversation_key(policy.name, request.continues_conversation)
        else:
            return None
        found = await keeper.find(key)
        return found if found is not None and found.policy == policy.name else None

    async def _continue(
        self, policy: PolicyRecord, request: RouteRequest, session: Session, fingerprint: str
    ) -> DecisionRecord | None:
        """A later turn of ``session``, on its model: logged as a continuation (one arm,
        probability 1, never learned). None when that model can no longer answer here (then
        the turn is routed afresh)."""
        model = self._catalog.models.get(session.model)
        if model is None or not _may_answer(model, policy, request):
            return None
        others = [
            m.id
            for m in self._models(policy, None)
            if m.id != model.id and _may_answer(m, policy, request)
        ]
        decision_id = request.decision_id or new_id()
        prompt_tokens = 0.0 if request.prompt is None else estimate_tokens(request.prompt)
        explicit = request.session_id is not None
        record = new_decision(
            decision_id=decision_id,
            policy=policy,
            learner=self._learners.learner(policy.name).state,
            routed=Routed(arms=(self._arm(model),), pmf=(1.0,), chosen=0, fallbacks=tuple(others)),
            context=self._context(policy, request),
            constraints=Constraints(),
            request_hash=fingerprint,
            now=self._clock(),
            caller_features=request.features or {},
            prompt=request.prompt,
            prompt_hash=self._keyed_hash(request.prompt),
            prompt_tokens=prompt_tokens,
            trace_id=self._trace_id(decision_id),
            conversation=request.conversation,
            session_key=session.key if explicit else None,
            continues=session.decision_id,
        )
        logged = await self._log(record, fingerprint)
        if explicit and self._sessions is not None:
            await self._sessions.keep(session)  # used now: its time to live starts again
        return logged

    async def _keep_session(
        self,
        policy: PolicyRecord,
        request: RouteRequest,
        failed: DecisionRecord | None,
        logged: DecisionRecord,
    ) -> None:
        """Start the caller's session on ``logged``'s model, or move a session whose model
        failed to the fallback that now answers it."""
        keeper = self._sessions
        if keeper is None:
            return
        if failed is not None:
            if failed.session_key is not None:
                await keeper.move(failed.session_key, logged.chosen_model)
            return
        if logged.session_key is not None:
            await keeper.keep(
                Session(logged.session_key, policy.name, logged.id, logged.chosen_model)
            )

    async def note_regeneration(
        self, decision: DecisionRecord, conversation: str, *, within: float
    ) -> str | None:
        """Implicit signals: when the conversation ``decision`` answers (canonical text) was
        sent within ``within`` seconds before, the user asked for another answer, and the
        earlier decision gets a score of 0 from source ``implicit``. Returns its id."""
        keeper = self._sessions
        if keeper is None:
            return None
        key = keeper.request_key(decision.policy, conversation)
        earlier = await keeper.find(key, within=within)
        await keeper.keep(Session(key, decision.policy, decision.id, decision.chosen_model))
        if earlier is None or earlier.decision_id == decision.id:
            return None
        await self.feedback(
            FeedbackInput(
                decision_id=earlier.decision_id,
                source=IMPLICIT_SOURCE,
                score=0.0,
                idempotency_key=f"{IMPLICIT_SOURCE}:{earlier.decision_id}",
                comment=f"Regenerated: the same conversation was sent again ({decision.id}).",
            )
        )
        return earlier.decision_id

    async def remember_turn(
        self, answered: DecisionRecord, conversation: str, *, session_decision: str
    ) -> None:
        """After ``answered`` answered, the conversation including that answer (canonical
        text) leads to its model: the next turn, which carries it, continues the session
        whose first decision is ``session_decision``."""
        if self._sessions is None:
            return
        key = self._sessions.conversation_key(answered.policy, conversation)
        session = Session(key, answered.policy, session_decision, answered.chosen_model)
        # In memory at once (the next turn may come before a write would commit), stored
        # in the background for the other processes.
        self._sessions.keep_soon(session)

    def _judging(self, policy: PolicyRecord) -> bool:
        judge = policy.config.judge
        return judge is not None and self._judge_open(policy.name, judge)

    async def _stored(self, request: RouteRequest, fingerprint: str) -> DecisionRecord | None:
        """The decision already logged under the client's ``decision_id`` (a retry), if any."""
        if request.decision_id is None:
            return None
        async with self._engine.connect() as connection:
            stored = await find_decision(connection, decision_id=request.decision_id)
        return None if stored is None else _same_request(stored, fingerprint)

    def _context(self, policy: PolicyRecord, request: RouteRequest) -> Context:
        try:
            return extract_context(
                request.prompt,
                request.features,
                policy.config.features,
                self._embedder,
                word_key=self._prompt_key,
            )
        except FeatureError as error:
            raise InvalidInputError(str(error)) from error

    def _split(
        self,
        policy: str,
        request: RouteRequest,
        decision_id: str,
        observed: Mapping[str, Observed],
    ) -> _Split | None:
        """The running experiment's split of this request, or None when none applies.

        An experiment splits the policy's own traffic; a caller that restricts the candidates,
        or retries a failed call, has opted out of it."""
        experiment = self._catalog.experiments.get(policy)
        if (
            experiment is None
            or experiment.status != "running"
            or request.candidates is not None
            or request.fallback_of is not None
        ):
            return None
        candidate = self._catalog.model(experiment.spec.candidate)
        if request.callable_only and candidate.endpoint is None:
            return None
        share = experiment.share
        on_candidate = self._assign(experiment.id, request.unit_id or decision_id, share)
        return _Split(
            Overlay(self._candidate(candidate, observed), share, on_candidate),
            ExperimentAssignment(
                id=experiment.id,
                arm="candidate" if on_candidate else "control",
                share=share,
                stage=experiment.stage_index,
            ),
        )

    async def _log(self, record: DecisionRecord, fingerprint: str) -> DecisionRecord:
        """Log ``record`` durably; a racing retry with the same id gets the stored one."""
        while not await log_decision(self._committer, record):
            async with self._engine.connect() as connection:
                raced = await find_decision(connection, decision_id=record.id)
            if raced is not None:
                return _same_request(raced, fingerprint)
            # Deleted (by retention) between the two statements: log it after all.
        self._telemetry.emit(DecisionTraced(record))
        return record

    async def _escalate(
        self, policy: PolicyRecord, request: RouteRequest, ask: Escalation, fingerprint: str
    ) -> DecisionRecord:
        """The cascade's second decision: keep the first answer (``accept``) or escalate.

        It is a decision of the policy that learns ``policy``'s escalations, with a context of
        the first decision's context plus the signals, and with what the request already
        cost carried into its reward.
        """
        cascade = _escalation_asked_right(policy, request)
        first = await self._first_decision(policy, ask)
        escalation_policy = self._catalog.policy(escalation_policy_name(policy.name))
        try:
            context = escalation_context(first.context, ask.signals, first.chosen_model)
        except FeatureError as error:
            raise InvalidInputError(str(error)) from error
        observed = self._observer.observations(policy.name)
        notes = first.routing
        constraints = _escalation_constraints(first, request)
        escalations = [self._catalog.model(m) for m in cascade.escalate]
        escalations = [m for m in escalations if m.status != "retired"]
        live = self._learners.learner(escalation_policy.name)
        decision_id = request.decision_id or new_id()
        prompt_tokens = 0.0 if notes is None else notes.prompt_tokens
        routed = decide(
            live.learner,
            decision_id,
            context,
            [_ACCEPT, *(self._candidate(m, observed) for m in escalations)],
            policy=escalation_policy.name,
            constraints=constraints,
            prompt_tokens=prompt_tokens,
            already_tried=_uncallable(escalations, request.callable_only),
            exempt=frozenset({ACCEPT}),
        )
        now = self._clock()
        record = new_decision(
            decision_id=decision_id,
            policy=escalation_policy,
            learner=live.state,
            routed=routed,
            context=context,
            constraints=constraints,
            request_hash=fingerprint,
            now=now,
            caller_features=first.caller_features,
            prompt=None,
            prompt_hash=first.prompt_hash,
            prompt_tokens=prompt_tokens,
            trace_id=self._trace_id(decision_id),
            hidden_fallbacks=frozenset({ACCEPT}),
            escalation_of=first.id,
            prior_cost_usd=_cost_so_far(first, ask),
        )
        logged = await self._log(record, fingerprint)
        if policy.config.store_prompts:
            await self._keep_first_answer(first, ask.signals.answer, now)
        return logged

    async def _first_decision(self, policy: PolicyRecord, ask: Escalation) -> DecisionRecord:
        async with self._engine.connect() as connection:
            first = await find_decision(connection, decision_id=ask.of, with_outcome=True)
        if first is None or first.policy != policy.name:
            raise NotFoundError(
                f"Decision {ask.of!r} (escalate.from) is not a decision of policy {policy.name!r}."
            )
        return first

    async def _keep_first_answer(
        self, first: DecisionRecord, answer: str | None, now: float
    ) -> None:
        """A policy that stores prompts keeps the first answer too, for its reviewers."""
        if answer is None or first.response is not None:
            return

        async def keep(connection: AsyncConnection) -> None:
            with contextlib.suppress(ConflictError):  # an answer posted meanwhile stays
                await store_response(connection, decision_id=first.id, text=answer, now=now)

        await self._committer.run(keep)

    def cascade_step(self, decision: DecisionRecord) -> CascadeStep | None:
        """The decision's place in a cascade; None when its policy has none."""
        if decision.escalation_of is not None:
            return CascadeStep(
                "escalation",
                escalation_policy=decision.policy,
                escalation_of=decision.escalation_of,
            )
        policy = self._catalog.policies.get(decision.policy)
        if policy is None or policy.config.cascade is None:
            return None
        return CascadeStep(
            "first",
            escalation_policy=escalation_policy_name(policy.name),
            probe=policy.config.cascade.probe,
        )

    async def feedback(self, feedback: FeedbackInput, *, export: bool = True) -> FeedbackRecord:
        """Store feedback durably (idempotent by key) and let the learner know.

        ``export=False``: feedback that came from Langfuse is not sent back to it.
        """
        feedback_id = new_id()
        catalog = self._catalog
        now = self._clock()

        # Read here, on the event loop: ``store`` runs in the writer's thread. A role that
        # changes meanwhile is harmless: a join only closes a window that is still open.
        join_now = self._leading()

        def store(connection: Connection) -> FeedbackRecord:
            return record_feedback(
                connection,
                feedback=feedback,
                feedback_id=feedback_id,
                rule_for=catalog.reward_rule,
                now=now,
                join_now=join_now,
            )

        stored = await self._committer.run_sync(store)
        self._learn_soon()
        if stored.created:
            self._telemetry.emit(FeedbackScored(stored, export=export))
        return stored

    async def decision(self, decision_id: str) -> DecisionRecord:
        async with self._engine.connect() as connection:
            return await get_decision(connection, decision_id=decision_id)

    async def decision_policy(self, decision_id: str) -> str:
        """The policy a decision belongs to (404 when there is no such decision)."""
        async with self._engine.connect() as connection:
            policy = await decision_policy(connection, decision_id=decision_id)
        if policy is None:
            raise NotFoundError(f"Decision {decision_id!r} does not exist.")
        return policy

    def _models(self, policy: PolicyRecord, requested: tuple[str, ...] | None) -> list[ModelSpec]:
        # A cascade's routes start at its first-stage models; escalation picks the others.
        cascade = policy.config.cascade
        listed = policy.config.models if cascade is None else cascade.first
        active = [m for m in listed if self._catalog.model(m).status != "retired"]
        if requested is not None:
            if len(requested) > self._max_candidates:
                raise LimitExceededError(
                    f"A route request may name at most {self._max_candidates} candidates, "
                    f"got {len(requested)}."
                )
            if len(set(requested)) != len(requested):
                raise InvalidInputError(f"Candidates {list(requested)} contain duplicates.")
            outside = [m for m in requested if m not in active]
            if outside:
                raise InvalidInputError(
                    f"Candidates {outside} are not active models of policy {policy.name!r} "
                    f"(its active models: {active})."
                )
            active = list(requested)
        if not active:
            raise InvalidInputError(
                f"The candidate set for policy {policy.name!r} is empty: "
                "name at least one of its active models."
            )
        return [self._catalog.model(m) for m in active]

    def _candidate(self, model: ModelSpec, observed: Mapping[str, Observed]) -> Candidate:
        seen = observed.get(model.id)
        window = model.features.get("context_window")
        return Candidate(
            arm=self._arm(model),
            facts=ModelFacts(
                id=model.id,
                input_usd_per_mtok=model.input_usd_per_mtok,
                output_usd_per_mtok=model.output_usd_per_mtok,
                # A declared window that is not a positive number is a tag, not a limit.
                context_window=int(window)
                if isinstance(window, int | float) and not isinstance(window, bool) and window > 0
                else None,
                features=model.features,
                p95_latency_ms=None if seen is None else seen.p95_latency_ms,
                output_tokens=None if seen is None else seen.mean_output_tokens,
                cooldown=None if seen is None else seen.cooldown_reason,
            ),
        )

    async def _failed(self, request: RouteRequest) -> DecisionRecord | None:
        """The decision whose model failed, when ``request`` is its fallback (checked)."""
        if request.fallback_of is None:
            return None
        async with self._engine.connect() as connection:
            failed = await find_decision(connection, decision_id=request.fallback_of)
        if failed is None or failed.policy != request.policy:
            # Another policy's decision reads as a missing one: its policy (perhaps another
            # tenant's) is not named, nor is its existence told.
            raise NotFoundError(
                f"Decision {request.fallback_of!r} (fallback_of) does not exist in policy "
                f"{request.policy!r}."
            )
        earlier = () if failed.routing is None else failed.routing.tried
        if len(earlier) >= MAX_FALLBACK_CHAIN:
            raise LimitExceededError(
                f"Decision {request.fallback_of!r} ends a chain of {len(earlier) + 1} attempts; "
                f"at most {MAX_FALLBACK_CHAIN} fallbacks are allowed for one request."
            )
        return failed

    def _arm(self, model: ModelSpec) -> Arm:
        """The model's arm, built once per catalog entry: a PUT replaces the entry, and the
        same Arm object on every request lets the VW adapter reuse its rendered text."""
        cached = self._arm_cache.get(model.id)
        if cached is None or cached[0] is not model:
            cached = (model, _arm(model))
            self._arm_cache[model.id] = cached
        return cached[1]

    def _trace_id(self, decision_id: str) -> str | None:
        return None if self._name_trace is None else self._name_trace(decision_id)

    def _keyed_hash(self, text: str | None) -> str | None:
        """HMAC-SHA256 under the installation's key: comparable, not reversible by guessing."""
        if text is None:
            return None
        return hmac.new(self._prompt_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _arm(model: ModelSpec) -> Arm:
    return arm_for_model(
        model.id,
        input_usd_per_mtok=model.input_usd_per_mtok,
        output_usd_per_mtok=model.output_usd_per_mtok,
        declared=model.features,
    )


def _uncallable(models: list[ModelSpec], callable_only: bool) -> dict[str, str]:
    """Models the proxy cannot call (no endpoint), with the reason, when only those it can
    call may be chosen: left out like any ineligible model, so the pmf stays exact."""
    if not callable_only:
        return {}
    return {
        m.id: f"{m.id}: has no endpoint, so the proxy cannot call it (PUT /v1/models/{m.id} "
        "with an endpoint)."
        for m in models
        if m.endpoint is None
    }


def _same_request(stored: DecisionRecord, fingerprint: str) -> DecisionRecord:
    if stored.request_hash != fingerprint:
        raise ConflictError(
            f"Decision id {stored.id!r} was already used for a different route request."
        )
    return stored


@dataclass(frozen=True, slots=True)
class _Split:
    """An experiment's split of one request, and the assignment the decision logs if it
    applies (``decide`` may drop it when the candidate is not eligible)."""

    overlay: Overlay
    assignment: ExperimentAssignment


#: The escalation policy's first arm: keep the first answer.
_ACCEPT = Candidate(ACCEPT_ARM, ModelFacts(ACCEPT, 0.0, 0.0))


def _refuse_escalation_policy(policy: PolicyRecord) -> None:
    if policy.config.escalation_for is not None:
        raise InvalidInputError(
            f"Policy {policy.name!r} learns the escalations of policy "
            f"{policy.config.escalation_for!r}: route to that policy, and ask it with "
            "escalate."
        )


def _constraints(policy: Constraints, request: RouteRequest) -> Constraints:
    """The policy's limits, tightened by the request's and then by the caller's key."""
    return policy.tightened(request.constraints).tightened(
        Constraints(allowed_models=request.allowed_models), by="API key"
    )


def _tried_models(failed: DecisionRecord | None) -> tuple[str, ...]:
    """The models a fallback chain already tried, oldest first (empty for a first try)."""
    if failed is None:
        return ()
    earlier = () if failed.routing is None else failed.routing.tried
    return (*earlier, failed.chosen_model)


def _may_answer(model: ModelSpec, policy: PolicyRecord, request: RouteRequest) -> bool:
    """Whether a session's turn may stay on (or fall back to) ``model``: still a model of the
    policy, not retired, allowed to the caller's key, callable when the proxy calls it."""
    return (
        model.id in policy.config.models
        and model.status != "retired"
        and (request.allowed_models is None or model.id in request.allowed_models)
        and not (request.callable_only and model.endpoint is None)
    )


def _tried(request: RouteRequest, tried: tuple[str, ...]) -> dict[str, str]:
    return {
        model: f"{model}: already tried for this request (fallback of {request.fallback_of!r})."
        for model in tried
    }


def _escalation_asked_right(policy: PolicyRecord, request: RouteRequest) -> CascadeSpec:
    """``policy``'s cascade, when the escalation request carries nothing of its own."""
    cascade = policy.config.cascade
    if cascade is None:
        raise InvalidInputError(
            f"Policy {policy.name!r} defines no cascade: there is nothing to escalate to."
        )
    if request.prompt is not None or request.features or request.candidates is not None:
        raise InvalidInputError(
            "An escalation takes its context from the first decision: send no prompt, "
            "features or candidates with escalate."
        )
    if request.fallback_of is not None or not request.constraints.empty:
        raise InvalidInputError(
            "An escalation keeps the first decision's constraints: send no fallback_of, "
            "max_cost_usd, max_latency_ms or require with escalate."
        )
    return cascade


def _escalation_constraints(first: DecisionRecord, request: RouteRequest) -> Constraints:
    """The first decision's constraints, tightened by the caller's key."""
    notes = first.routing
    kept = Constraints() if notes is None else constraints_from_json(dict(notes.constraints))
    return kept.tightened(Constraints(allowed_models=request.allowed_models), by="API key")


def _cost_so_far(first: DecisionRecord, ask: Escalation) -> float:
    """What the request cost before its escalation: as the caller says, else the first
    decision's reported cost."""
    if ask.cost_usd is not None:
        return ask.cost_usd
    return next((f.cost_usd for f in first.feedback if f.cost_usd is not None), 0.0)
