"""Agreement between reviewers: Krippendorff's alpha with the interval metric.

Alpha is ``1 - observed disagreement / disagreement expected by chance``: 1 when reviewers
agree perfectly, 0 when they agree no better than scores drawn at random from all the scores
given, negative when they disagree systematically. It accepts any number of reviewers per
decision and missing scores; decisions scored by one reviewer only tell nothing about
agreement and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["krippendorff_alpha"]


def krippendorff_alpha(units: Sequence[Sequence[float]]) -> float | None:
    """Interval alpha over ``units`` (one sequence of scores per decision, one score per
    reviewer); None when fewer than two decisions have two scores or all scores are equal.

    Krippendorff's worked example (*Computing Krippendorff's Alpha-Reliability*, 2011: four
    observers, twelve units, interval alpha 0.849):

    >>> data = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...         [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5],
    ...         [1, 1], [3]]
    >>> round(krippendorff_alpha(data), 3)
    0.849

    By hand, two reviewers on three decisions, scores (0, 0), (1, 1), (0, 1): the only
    disagreement is the third pair, ``D_o = (2 * 1) / 6 = 1/3``; the six scores hold three
    0s and three 1s, ``D_e = 2 * 3 * 3 / (6 * 5) = 0.6``; alpha is ``1 - (1/3)/0.6``:

    >>> round(krippendorff_alpha([[0, 0], [1, 1], [0, 1]]), 4)
    0.4444
    >>> krippendorff_alpha([[1, 1], [1, 1]]) is None
    True
    """
    pairable = [[float(v) for v in unit] for unit in units if len(unit) >= 2]
    if len(pairable) < 2:
        return None
    values = [v for unit in pairable for v in unit]
    n = len(values)
    # sum over ordered pairs i != j of (v_i - v_j)^2 equals 2 m * sum of squared deviations.
    mean = math.fsum(values) / n
    expected = 2 * math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    if expected == 0:
        return None
    observed = 0.0
    for unit in pairable:
        m = len(unit)
        unit_mean = math.fsum(unit) / m
        observed += 2 * m * math.fsum((v - unit_mean) ** 2 for v in unit) / (m - 1)
    observed /= n
    return 1.0 - observed / expected
