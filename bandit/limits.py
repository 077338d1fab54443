"""Bounds (and a few defaults) of what callers and operators send, in one place.

The bounds are far above any real call; they exist so that no accepted value can overflow a
reward or an arm feature (1e308 * 25 is inf). Feedback, per-request limits, prices, budgets and
the proxy's own reports all check against these. This module imports nothing: the wire structs
(and so the Python client) read it without loading the server.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_STAGES",
    "MAX_ANSWER_CHARS",
    "MAX_ANSWER_LENGTH",
    "MAX_COST_SHARE",
    "MAX_COST_USD",
    "MAX_JUDGE_INSTRUCTIONS",
    "MAX_JUDGE_USD_PER_HOUR",
    "MAX_LATENCY_MS",
    "MAX_TOKENS",
    "MAX_USD_PER_MTOK",
    "MAX_USD_PER_REQUEST",
    "MIN_USD_PER_REQUEST",
]

#: USD of one call.
MAX_COST_USD = 1000.0
#: Milliseconds of one call: one hour.
MAX_LATENCY_MS = 3_600_000.0
#: Tokens one call may report, input or output: far beyond any context window.
MAX_TOKENS = 10_000_000
#: Highest accepted price, USD per million tokens (today's dearest models cost well under 1000):
#: a price of 1e308 overflowed the arm features and made every route of its policies a 500.
MAX_USD_PER_MTOK = 100_000.0
#: Largest budget a policy may state, in USD per request.
MAX_USD_PER_REQUEST = 1000.0
#: Smallest: a nano-dollar. Below it the cost weight (``multiplier / budget``) could overflow.
MIN_USD_PER_REQUEST = 1e-9
#: Largest share of the reference model's cost (ten times what it would cost).
MAX_COST_SHARE = 10.0
#: The longest answer text accepted (about 16k tokens); longer answers are the caller's to trim.
MAX_ANSWER_CHARS = 65_536
#: The largest answer length accepted, in characters (a length may be sent without the text).
MAX_ANSWER_LENGTH = 10_000_000
#: An experiment's traffic shares of the candidate, stage by stage; the last is full rollout.
DEFAULT_STAGES: tuple[float, ...] = (0.10, 0.25, 0.50, 1.00)
#: The most a policy's judge may spend per hour, in USD.
MAX_JUDGE_USD_PER_HOUR = 10_000.0
#: The longest rubric a judge may be given, in characters.
MAX_JUDGE_INSTRUCTIONS = 8_000
