"""Model health and observed usage per policy, refreshed from the database every second.

A model's health is the model's: its calls and failures are counted over every policy's
decisions, and each policy's ``HealthSettings`` judge them (``bandit.health``); policies with
the same settings share one count and one verdict, so a refresh makes one query per distinct
settings, however many policies there are. The database is the truth: every server process
counts the same calls, so processes agree on which models cool down to within one refresh.
What a process keeps in memory is only each model's last cooldown, which decides where its
fresh window starts after a re-admission. A process that starts while a model cools, or just
after, counts the full window and may cool it once more than the others: never for longer
than one cooldown.

Latency and output length change slowly and their query reads an hour: they are refreshed
every ``usage_seconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.catalog import Catalog
from api.service.clock import Clock
from bandit.health import (
    CallOutcomes,
    Cooldown,
    HealthSettings,
    ModelObservation,
    Usage,
    assess,
    observe,
    window_start,
)
from storage.model_stats import call_outcomes, model_usage

__all__ = ["USAGE_SAMPLE", "USAGE_WINDOW_SECONDS", "ModelHealth"]

_log = logging.getLogger(__name__)

#: Latency and output length are read from the last hour of feedback ...
USAGE_WINDOW_SECONDS = 3600.0
#: ... at most this many of each model's newest feedback.
USAGE_SAMPLE = 1000

_NO_CALLS = CallOutcomes()
_UNKNOWN = ModelObservation()
_EMPTY: Mapping[str, ModelObservation] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _View:
    observations: Mapping[str, ModelObservation]
    #: When the first cooldown in ``observations`` ends: the view is rebuilt from then on.
    expires_at: float


class ModelHealth(PeriodicJob):
    """Per policy, which models cool down and what latency and output length each showed.

    ``refresh()`` reads the database now (tests call it); ``start()`` runs it every
    ``seconds`` until ``close()``.
    """

    task_name = "model-health"

    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        clock: Clock,
        *,
        seconds: float = 1.0,
        usage_seconds: float = 30.0,
    ) -> None:
        super().__init__(seconds=seconds)
        self._engine = engine
        self._catalog = catalog
        self._clock = clock
        self._usage_seconds = usage_seconds
        self._usage: Mapping[str, Usage] = {}
        self._usage_at: float | None = None
        #: Per health settings, each model's last cooldown (active, or still shortening its
        #: window).
        self._cooldowns: dict[HealthSettings, dict[str, Cooldown]] = {}
        self._settings: dict[str, HealthSettings] = {}
        self._views: dict[str, _View] = {}
        #: Per policy, the models it may route to: its own and its experiment's candidate.
        self._models: dict[str, frozenset[str]] = {}
        #: Why the last refresh failed; None when it succeeded.
        self.last_error: str | None = None

    def observations(self, policy: str) -> Mapping[str, ModelObservation]:
        """What ``policy`` knows of each model it may route to (its models and its
        experiment's candidate), read-only. A model is absent when nothing is known of it (no
        cooldown, too few reports for a p95 or a mean output length). A model is to be left
        out while its ``cooldown_until`` is set: no cooldown that has ended by the clock is
        ever returned."""
        view = self._views.get(policy)
        if view is None:
            return _EMPTY
        now = self._clock()
        if now >= view.expires_at:
            view = self._view(policy, now)
        return view.observations

    def cooldowns(self, policy: str) -> list[Cooldown]:
        """The models ``policy`` leaves out now, by model id."""
        return sorted(self._active(policy, self._clock()).values(), key=lambda c: c.model)

    def _active(self, policy: str, now: float) -> dict[str, Cooldown]:
        settings = self._settings.get(policy)
        if settings is None:
            return {}
        routable = self._models.get(policy, frozenset())
        return {
            m: c
            for m, c in self._cooldowns.get(settings, {}).items()
            if m in routable and c.active_at(now)
        }

    async def refresh(self, *, usage: bool = True) -> None:
        """Count every policy's calls in the database now and update its cooldowns; read the
        models' latency and output length too (``usage=False``: only when due)."""
        now = self._clock()
        policies = {name: record.config.health for name, record in self._catalog.policies.items()}
        self._models = {name: self._routable(name) for name in policies}
        async with self._engine.connect() as connection:
            if usage or self._usage_at is None or now - self._usage_at >= self._usage_seconds:
                self._usage = await model_usage(
                    connection, since=now - USAGE_WINDOW_SECONDS, until=now, limit=USAGE_SAMPLE
                )
                self._usage_at = now
            # A model's health is the model's: policies with the same settings share one count
            # and one verdict (usually every policy: one query a second, however many).
            cooldowns: dict[HealthSettings, dict[str, Cooldown]] = {}
            for settings in sorted(set(policies.values()), key=repr):
                previous = self._cooldowns.get(settings, {})
                outcomes = await call_outcomes(
                    connection,
                    since=now - settings.window_seconds,
                    until=now,
                    since_by_model=_starts(settings, previous, now),
                )
                kept: dict[str, Cooldown] = {}
                for model in sorted(set(outcomes) | set(previous)):
                    cooldown = assess(
                        settings,
                        model,
                        outcomes.get(model, _NO_CALLS),
                        previous=previous.get(model),
                        now=now,
                    )
                    if cooldown is not None:
                        if cooldown is not previous.get(model):
                            _log.warning("%s", cooldown.reason)
                        kept[model] = cooldown
                cooldowns[settings] = kept
        self._cooldowns = cooldowns
        self._settings = policies
        self._views = {name: self._view(name, now) for name in policies}

    def _view(self, policy: str, now: float) -> _View:
        cooldowns = self._active(policy, now)
        routable = self._models.get(policy, frozenset())
        models = sorted((set(self._usage) | set(cooldowns)) & routable)
        observed = {m: observe(self._usage.get(m), cooldowns.get(m), now) for m in models}
        view = _View(
            observations=MappingProxyType({m: o for m, o in observed.items() if o != _UNKNOWN}),
            expires_at=min((c.until for c in cooldowns.values()), default=float("inf")),
        )
        self._views[policy] = view
        return view

    async def _round(self) -> None:
        await self.refresh(usage=False)

    def _routable(self, policy: str) -> frozenset[str]:
        models = set(self._catalog.policies[policy].config.models)
        experiment = self._catalog.experiments.get(policy)
        if experiment is not None:
            models.add(experiment.spec.candidate)
        return frozenset(models)

    def _round_failed(self, error: str) -> None:
        # Keep the last cooldowns: a database hiccup neither cools nor re-admits anything
        # (observations() still re-admits a model whose cooldown has ended).
        failure = (
            f"Refreshing model health failed ({error}); cooldowns stay as they were, "
            "and end on time."
        )
        if failure != self.last_error:  # once per kind of failure, not every second
            _log.warning("%s", failure)
        self.last_error = failure

    def _round_succeeded(self) -> None:
        self.last_error = None


def _starts(
    settings: HealthSettings, previous: Mapping[str, Cooldown], now: float
) -> dict[str, float]:
    """The models whose window starts later than ``window_seconds`` ago (a re-admission)."""
    default = now - settings.window_seconds
    starts = {m: window_start(settings, c, now) for m, c in previous.items()}
    return {m: at for m, at in starts.items() if at > default}
