"""Export a policy's decision log, with feedback and joined rewards, as VW DSJSON or JSON Lines.

:func:`iter_decisions` streams the log in creation order, one page per short read (keyset
pagination on ``(created_at, id)``), so a range of any size is never loaded at once.
:func:`dsjson_line` and :func:`jsonl_line` are pure formatters of one decision.

DSJSON follows Vowpal Wabbit's decision-service convention for ``--cb_explore_adf --dsjson``:
``_labelIndex`` is the 0-based position of the chosen model among the candidates and
``_label_Action`` the same position 1-based; ``a`` lists every action (1-based) with the chosen
one first and the others in candidate order, and ``p`` gives their probabilities in that order;
``c`` holds the context namespaces (lower case) as the shared example and ``_multi`` one object
per candidate with its namespaces (upper case). A decision without a joined reward has no label:
it is skipped by default (VW would only predict on it) or exported without the ``_label_*`` keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.errors import InvalidInputError
from bandit.types import Namespace
from bandit.vw_format import vw_cost
from domain import DecisionRecord, FeedbackRecord, RewardRecord
from storage import _sql
from storage.codec import routing_to_json, to_stored
from storage.decisions import decision_from_row, feedback_from_row, reward_from_row

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "EXPORT_FORMATS",
    "ExportFormat",
    "ExportRange",
    "Unlabeled",
    "dsjson_line",
    "export_lines",
    "iter_decisions",
    "jsonl_line",
]

ExportFormat = Literal["dsjson", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
#: What to do with a decision that has no joined reward (yet, or ever).
Unlabeled = Literal["skip", "include"]
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class ExportRange:
    """Decisions created at ``since <= created_at < until`` (float epoch seconds; None: open).

    >>> ExportRange(since=10.0, until=5.0)
    Traceback (most recent call last):
    ...
    bandit.errors.InvalidInputError: The export range starts (since=10.0) after it ends (until=5.0).
    """

    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InvalidInputError(f"The export range's {name} must be finite, got {value!r}.")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InvalidInputError(
                f"The export range starts (since={self.since!r}) after it ends "
                f"(until={self.until!r})."
            )


async def iter_decisions(
    engine: AsyncEngine,
    *,
    policy: str,
    window: ExportRange = ExportRange(),
    page_size: int = DEFAULT_PAGE_SIZE,
) -> AsyncIterator[DecisionRecord]:
    """Yield ``policy``'s decisions in ``window`` by ``(created_at, id)``, with their outcome.

    Each page is read in its own short transaction, so a slow reader never holds a connection
    or a snapshot open between pages; a decision logged behind the cursor while the export
    runs is not included.
    """
    if page_size < 1:
        raise ValueError(f"The page size must be at least 1, got {page_size}.")
    table = _sql.decisions
    cursor: tuple[float, str] | None = None
    while True:
        statement = select(table).where(table.c.policy == policy)
        if window.since is not None:
            statement = statement.where(table.c.created_at >= window.since)
        if window.until is not None:
            statement = statement.where(table.c.created_at < window.until)
        if cursor is not None:
            statement = statement.where(
                or_(
                    table.c.created_at > cursor[0],
                    and_(table.c.created_at == cursor[0], table.c.id > cursor[1]),
                )
            )
        statement = statement.order_by(table.c.created_at, table.c.id).limit(page_size)
        async with engine.connect() as connection:
            rows = list(await connection.execute(statement))
            ids = [row.id for row in rows]
            feedback: dict[str, list[FeedbackRecord]] = {}
            rewards: dict[str, RewardRecord] = {}
            if ids:
                for row in await connection.execute(
                    select(_sql.feedback)
                    .where(_sql.feedback.c.decision_id.in_(ids))
                    .order_by(_sql.feedback.c.seq)
                ):
                    feedback.setdefault(row.decision_id, []).append(feedback_from_row(row))
                for row in await connection.execute(
                    select(_sql.rewards).where(
                        _sql.rewards.c.decision_id.in_(ids), _sql.usable_reward()
                    )
                ):
                    rewards[row.decision_id] = reward_from_row(row)
        for row in rows:
            yield decision_from_row(
                row, feedback=tuple(feedback.get(row.id, ())), reward=rewards.get(row.id)
            )
        if len(rows) < page_size:
            return
        cursor = (rows[-1].created_at, rows[-1].id)


async def export_lines(
    engine: AsyncEngine,
    *,
    policy: str,
    fmt: ExportFormat,
    window: ExportRange = ExportRange(),
    unlabeled: Unlabeled | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> AsyncIterator[str]:
    """Yield one newline-terminated line per exported decision.

    ``unlabeled`` defaults to ``"skip"`` for DSJSON (training data for VW) and ``"include"`` for
    JSON Lines (the full log, ``reward`` null where none was joined).
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"Export format {fmt!r} is not one of {list(EXPORT_FORMATS)}.")
    keep_unlabeled = (unlabeled or ("skip" if fmt == "dsjson" else "include")) == "include"
    formatter = dsjson_line if fmt == "dsjson" else jsonl_line
    async for decision in iter_decisions(engine, policy=policy, window=window, page_size=page_size):
        if decision.reward is None and not keep_unlabeled:
            continue
        yield formatter(decision) + "\n"


def dsjson_line(decision: DecisionRecord) -> str:
    """One VW DSJSON object; labelled (with the VW adapter's ``vw_cost``) when the decision has
    a reward."""
    chosen = decision.chosen_index
    order = [chosen, *(i for i in range(len(decision.arms)) if i != chosen)]
    line: dict[str, Any] = {}
    if decision.reward is not None:
        line |= {
            "_label_cost": vw_cost(decision.reward.reward),
            "_label_probability": decision.propensity,
            "_label_Action": chosen + 1,
            "_labelIndex": chosen,
        }
    line |= {
        "Version": "1",
        "EventId": decision.id,
        "Timestamp": _iso_time(decision.created_at),
        "a": [i + 1 for i in order],
        "p": [decision.pmf[i] for i in order],
        "c": {
            **_namespaces_json(decision.context.namespaces),
            "_multi": [_namespaces_json(arm.namespaces) for arm in decision.arms],
        },
    }
    return json.dumps(line, separators=(",", ":"), allow_nan=False)


def jsonl_line(decision: DecisionRecord) -> str:
    """One JSON object with everything logged about a decision and its outcome."""
    reward = decision.reward
    return json.dumps(
        {
            "id": decision.id,
            "policy": decision.policy,
            "policy_version": decision.policy_version,
            "policy_revision": decision.policy_revision,
            "created_at": decision.created_at,
            "candidates": [arm.id for arm in decision.arms],
            "pmf": list(decision.pmf),
            "chosen_index": decision.chosen_index,
            "model": decision.chosen_model,
            "propensity": decision.propensity,
            "context": _namespaces_json(decision.context.namespaces),
            "arms": {arm.id: _namespaces_json(arm.namespaces) for arm in decision.arms},
            "features": dict(decision.caller_features),
            "experiment": to_stored(decision.experiment),
            "join_status": decision.join_status,
            "review_probability": decision.review_probability,
            "judge_probability": decision.judge_probability,
            "continues": decision.continues,
            "routing": None if decision.routing is None else routing_to_json(decision.routing),
            "fallback_of": decision.fallback_of,
            "escalation_of": decision.escalation_of,
            "prior_cost_usd": decision.prior_cost_usd,
            "feedback": [_feedback_json(f) for f in decision.feedback],
            "reward": to_stored(reward),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


#: What feedback's export leaves out: the key is the caller's own, the decision is the line's,
#: and the rest is bookkeeping of this service.
_FEEDBACK_NOT_EXPORTED = frozenset(
    {
        "id",
        "decision_id",
        "idempotency_key",
        "created",
        "void_reason",
        "voided_at",
        "policy",
        "model",
    }
)


def _feedback_json(feedback: FeedbackRecord) -> dict[str, Any]:
    fields: dict[str, Any] = to_stored(feedback)
    exported = {k: v for k, v in fields.items() if k not in _FEEDBACK_NOT_EXPORTED}
    return {"feedback_id": feedback.id, **exported}


def _namespaces_json(namespaces: Iterable[Namespace]) -> dict[str, dict[str, float]]:
    """``{namespace: {feature: value}}``; a repeated name adds up, as VW's text format does."""
    out: dict[str, dict[str, float]] = {}
    for namespace in namespaces:
        features = out.setdefault(namespace.name, {})
        for name, value in namespace.features:
            features[name] = features.get(name, 0.0) + float(value)
    return out


def _iso_time(epoch: float) -> str:
    """The UTC time in DSJSON's ``yyyy-mm-ddThh:mm:ss.sssZ`` form.

    >>> _iso_time(0.5)
    '1970-01-01T00:00:00.500Z'
    """
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
