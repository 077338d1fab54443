"""Unit ids for experiment tests whose traffic split is exact, not left to the hash."""

from __future__ import annotations

import itertools

from experiments import assign_candidate

__all__ = ["balanced_units", "spread_units"]


def balanced_units(experiment_id: str, *, share: float, total: int) -> list[str]:
    """``total`` unit ids of which exactly ``round(share * total)`` go to the candidate.

    The experiment id (random) seeds every unit's arm; a split left to chance fails the
    sample-ratio check now and then (p < 0.001 pauses the experiment), which a test that
    acts on the experiment must not depend on.
    """
    wanted = {True: round(share * total), False: total - round(share * total)}
    units: list[str] = []
    for i in itertools.count():
        unit = f"unit-{i}"
        arm = assign_candidate(experiment_id, unit, share)
        if wanted[arm] > 0:
            wanted[arm] -= 1
            units.append(unit)
        if len(units) == total:
            return units
    raise AssertionError("unreachable")


def spread_units(experiment_id: str, *, share: float, total: int) -> list[str]:
    """Like ``balanced_units``, with the candidate's units spread evenly through the order: at
    every prefix the candidate holds its share to within one unit, so a sample-ratio check made
    at any moment (the experiment checks run while a test drives traffic) finds no mismatch."""
    wanted = round(share * total)
    pools: dict[bool, list[str]] = {True: [], False: []}
    for i in itertools.count():
        unit = f"unit-{i}"
        pools[assign_candidate(experiment_id, unit, share)].append(unit)
        if len(pools[True]) >= wanted and len(pools[False]) >= total - wanted:
            break
    order = [int((n + 1) * share) > int(n * share) for n in range(total)]
    candidates, controls = iter(pools[True]), iter(pools[False])
    return [next(candidates) if on else next(controls) for on in order]
