"""Upper bounds on what callers and operators may send about one call, in one place.

They are far above any real call; they exist so that no accepted value can overflow a reward or
an arm feature (1e308 * 25 is inf). Feedback, per-request limits, prices and the proxy's own
reports all check against these.
"""

from __future__ import annotations

__all__ = ["MAX_COST_USD", "MAX_LATENCY_MS", "MAX_TOKENS", "MAX_USD_PER_MTOK"]

#: USD of one call.
MAX_COST_USD = 1000.0
#: Milliseconds of one call: one hour.
MAX_LATENCY_MS = 3_600_000.0
#: Tokens one call may report, input or output: far beyond any context window.
MAX_TOKENS = 10_000_000
#: Highest accepted price, USD per million tokens (today's dearest models cost well under 1000):
#: a price of 1e308 overflowed the arm features and made every route of its policies a 500.
MAX_USD_PER_MTOK = 100_000.0
