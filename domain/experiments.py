"""An experiment as the catalog holds it: its spec, where it stands, and how it got there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from experiments import ExperimentSpec

__all__ = ["ACTIVE", "ExperimentRecord", "ExperimentTransition"]

#: Statuses of an experiment that still owns its policy's traffic split.
ACTIVE: Final = ("running", "paused")


@dataclass(frozen=True, slots=True)
class ExperimentTransition:
    """One move of an experiment (promotion, rollback, pause, ...) with the evidence it rested
    on (the statistics the stage rule read, as stored JSON)."""

    seq: int
    action: str
    from_status: str
    to_status: str
    from_stage: int
    to_stage: int
    reason: str
    manual: bool
    evidence: Mapping[str, object] | None
    at: float


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: str
    spec: ExperimentSpec
    status: str
    stage_index: int
    created_at: float
    updated_at: float
    history: tuple[ExperimentTransition, ...] = ()

    @property
    def share(self) -> float:
        """The candidate's share of the traffic at the current stage."""
        return self.spec.share(self.stage_index)
