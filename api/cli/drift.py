"""``bandit-router drift``: how a live policy drifts, as tables a data scientist reads.

The table compares each model's share of decisions in the reference window (the first bucket,
against which the service also measures feature shift and reward drops) with the last bucket,
with a two-sided two-proportion z-test of the change; the service's flags follow in full.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from api.cli.options import Commands, add_command
from api.cli.output import fixed, percent, print_json, signed, table, usd, when
from api.cli.service import connect

__all__ = ["add_parser", "render", "run", "share_change_p_value"]


def add_parser(commands: Commands) -> None:
    drift = add_command(
        commands,
        "drift",
        help="how a policy drifts over time: shares, outcomes, feature shift, KPIs and flags",
        description="Show a running service's drift report for POLICY: each model's share in "
        "the reference window (the first bucket) against the last, with the significance of "
        "the change, reward and quality; the buckets; flags for significant reward drops and "
        "feature shifts (PSI); KPIs overall and per value of a caller feature. --json prints "
        "the whole report (per bucket model statistics and feature shift).",
        examples=[
            "drift default --since 2026-11-01T00:00:00Z --bucket-seconds 86400",
            "drift default --json | jq '.flags'",
        ],
        uses=["remote", "output"],
    )
    drift.add_argument("policy")
    drift.add_argument("--since", help="epoch seconds or ISO 8601 time (inclusive)")
    drift.add_argument("--until", help="epoch seconds or ISO 8601 time (exclusive)")
    drift.add_argument("--bucket-seconds", type=float, help="bucket width (default 3600)")
    drift.add_argument("--success-threshold", type=float, help="quality of a success (0.7)")
    drift.add_argument("--psi-threshold", type=float, help="PSI that flags a shift (0.2)")
    drift.add_argument("--group-by", help="caller feature for per-group KPIs (default task)")
    drift.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        report = client.as_json(
            client.drift,
            args.policy,
            since=args.since,
            until=args.until,
            bucket_seconds=args.bucket_seconds,
            success_threshold=args.success_threshold,
            psi_threshold=args.psi_threshold,
            group_by=args.group_by,
        )
    if args.as_json:
        print_json(report)
    else:
        print(render(report))
    return 0


def share_change_p_value(first: int, first_total: int, last: int, last_total: int) -> float | None:
    """Two-sided p-value of a two-proportion z-test (pooled) that a model's share of decisions
    changed between two windows; None when the pooled share is 0 or 1 (nothing can change).

    >>> round(share_change_p_value(50, 100, 50, 100), 3)
    1.0
    >>> share_change_p_value(10, 100, 40, 100) < 0.001
    True
    >>> share_change_p_value(0, 10, 0, 20) is None
    True
    """
    pooled = (first + last) / (first_total + last_total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / first_total + 1 / last_total))
    if spread == 0:
        return None
    z = (last / last_total - first / first_total) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def render(report: dict[str, Any]) -> str:
    buckets: list[dict[str, Any]] = report["buckets"]
    head = (
        f"policy {report['policy']}: {report['decisions']} decisions in {len(buckets)} "
        f"bucket{'s' if len(buckets) != 1 else ''} of {report['bucket_seconds']:g} s"
    )
    if not buckets:
        return head + " (no decisions in this range)"
    first, last = buckets[0], buckets[-1]
    lines = [
        head + f", {when(first['start'])} to {when(last['end'])} UTC",
        f"reference window: {_window(first)}",
        f"last window:      {_window(last)}",
    ]
    if report["truncated"]:
        lines.append(
            f"truncated: only the first {report['max_decisions']} decisions were read; "
            "narrow --since/--until to see later ones"
        )
    lines += ["", _models(report, first, last), "", _buckets(buckets), "", *_flags(report)]
    lines += ["", *_kpis(report)]
    return "\n".join(lines)


def _window(bucket: dict[str, Any]) -> str:
    return f"{when(bucket['start'])} to {when(bucket['end'])} UTC, {bucket['decisions']} decisions"


def _models(report: dict[str, Any], first: dict[str, Any], last: dict[str, Any]) -> str:
    dropped = {f["subject"] for f in report["flags"] if f["kind"] == "reward_drop"}
    stats_first = {m["model"]: m for m in first["models"]}
    stats_last = {m["model"]: m for m in last["models"]}
    utilization: dict[str, float] = report["kpis"]["utilization"]
    rows = []
    for model in sorted(set(utilization) | set(first["shares"]) | set(last["shares"])):
        before = first["shares"].get(model, 0.0)
        after = last["shares"].get(model, 0.0)
        one_bucket = first is last
        p_value = (
            None
            if one_bucket
            else share_change_p_value(
                round(before * first["decisions"]),
                first["decisions"],
                round(after * last["decisions"]),
                last["decisions"],
            )
        )
        rows.append(
            [
                model,
                percent(utilization.get(model, 0.0)),
                percent(before),
                percent(after),
                None if one_bucket else signed(100 * (after - before), 1, " pp"),
                None if p_value is None else f"{p_value:.2g}",
                fixed(stats_first.get(model, {}).get("mean_reward"), 3),
                fixed(stats_last.get(model, {}).get("mean_reward"), 3),
                fixed(stats_last.get(model, {}).get("mean_quality"), 3),
                "reward drop" if model in dropped else None,
            ]
        )
    headers = [
        "model",
        "share",
        "share ref",
        "share last",
        "change",
        "p",
        "reward ref",
        "reward last",
        "quality last",
        "flag",
    ]
    return table(headers, rows)


def _buckets(buckets: list[dict[str, Any]]) -> str:
    rows = [
        [
            when(b["start"]),
            b["decisions"],
            fixed(b["mean_reward"], 3),
            percent(b["feedback_rate"]),
            f"{b['min_policy_version']}-{b['max_policy_version']}",
            fixed(max((s["psi"] for s in b["feature_shift"]), default=None), 3),
        ]
        for b in buckets
    ]
    headers = ["bucket (UTC)", "decisions", "reward", "feedback", "versions", "max PSI"]
    return table(headers, rows)


def _flags(report: dict[str, Any]) -> list[str]:
    flags: list[dict[str, Any]] = report["flags"]
    if not flags:
        return ["flags: none"]
    return [
        f"flags ({len(flags)}):",
        *(f"  {when(f['bucket_start'])} {f['kind']}: {f['message']}" for f in flags),
    ]


def _kpis(report: dict[str, Any]) -> list[str]:
    kpis = report["kpis"]
    change = report["pmf_change"]
    variation = change["mean_total_variation"]
    lines = [
        f"cost per success {usd(kpis['cost_per_success_usd']) or '-'}, "
        f"p95 latency {_ms(kpis['p95_latency_ms'])}, "
        f"fallback rate {percent(kpis['fallback_rate'])}, "
        f"quality drift {signed(kpis['quality_drift']) or '-'} (last bucket - first)",
        "pmf change between snapshots: "
        + (
            f"mean total variation {variation:.3f} over {len(change['snapshots'])} snapshots "
            f"({change['probes']} probe contexts)"
            if variation is not None
            else f"fewer than two snapshots ({len(change['snapshots'])})"
        ),
    ]
    groups: dict[str, dict[str, Any]] = report["groups"]
    if groups:
        rows = [
            [
                name,
                g["decisions"],
                usd(g["cost_per_success_usd"]),
                _ms(g["p95_latency_ms"]),
                signed(g["quality_drift"]),
                percent(g["fallback_rate"]),
            ]
            for name, g in sorted(groups.items())
        ]
        headers = [
            str(report["group_by"]),
            "decisions",
            "cost/success",
            "p95 latency",
            "quality drift",
            "fallback",
        ]
        lines += ["", table(headers, rows)]
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
