"""Stable assignment by hash, and the exact propensities of a split."""

from __future__ import annotations

import itertools
import math

import pytest

from experiments import assign_candidate, assignment_point, routing_pmf

UNITS = [f"user-{i}" for i in range(20_000)]


def test_assignment_is_deterministic() -> None:
    first = [assign_candidate("exp-1", unit, 0.3) for unit in UNITS[:500]]
    again = [assign_candidate("exp-1", unit, 0.3) for unit in UNITS[:500]]
    assert first == again


def test_a_unit_keeps_the_candidate_as_the_share_grows() -> None:
    shares = (0.0, 0.1, 0.25, 0.5, 1.0)
    on_candidate = [{u for u in UNITS[:5000] if assign_candidate("exp-1", u, s)} for s in shares]
    for smaller, larger in itertools.pairwise(on_candidate):
        assert smaller < larger  # strict: every stage adds units, none leaves
    assert not on_candidate[0]
    assert len(on_candidate[-1]) == 5000


@pytest.mark.parametrize("share", [0.10, 0.25, 0.50])
def test_share_is_accurate(share: float) -> None:
    fraction = sum(assign_candidate("exp-7", unit, share) for unit in UNITS) / len(UNITS)
    # 20 000 units: the standard error is at most 0.0036; allow about 3 of them.
    assert abs(fraction - share) < 0.011


def test_experiments_split_independently() -> None:
    a = [assign_candidate("exp-a", unit, 0.5) for unit in UNITS[:4000]]
    b = [assign_candidate("exp-b", unit, 0.5) for unit in UNITS[:4000]]
    agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    assert abs(agreement - 0.5) < 0.05


def test_ids_are_length_prefixed_before_hashing() -> None:
    assert assignment_point("ab", "c") != assignment_point("a", "bc")


def test_assignment_rejects_a_share_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"Traffic share 1\.2 must be in"):
        assign_candidate("exp-1", "user-1", 1.2)


def test_routing_pmf_gives_the_documented_propensities() -> None:
    candidate, incumbents = routing_pmf(0.1, (0.7, 0.2, 0.1))
    assert candidate == 0.1
    assert incumbents == pytest.approx((0.63, 0.18, 0.09))
    assert math.fsum((candidate, *incumbents)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("share", "pmf", "message"),
    [
        (1.5, (1.0,), "Traffic share"),
        (0.1, (), "empty"),
        (0.1, (0.5, 0.6), "sums to"),
        (0.1, (1.5, -0.5), "negative"),
    ],
)
def test_routing_pmf_rejects_bad_input(share: float, pmf: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        routing_pmf(share, pmf)
