"""How the CLI reaches a running service: through the typed client, ``api.client``.

The CLI has no HTTP code of its own. Every remote command opens a ``RouterClient`` here, and
prints with ``--json`` exactly the JSON the service answered (``RouterClient.as_json``), so a
newer service's fields reach a script even before this CLI knows them. A refusal is the
client's ``RouterError``, whose ``detail`` sentence ``main`` prints.
"""

from __future__ import annotations

import argparse

from api.client import RetryPolicy, RouterClient

__all__ = ["RETRY", "TIMEOUT", "connect"]

#: Seconds an ordinary call may take (drift, evaluation and export allow 600 s by themselves).
TIMEOUT = 60.0

#: An operator typing a command wants a quick, clear answer, not the client's patient
#: default (four attempts, up to 8 s apart). One retry, half a second later, still rides out
#: a load shedder's 503, a 429 or a restarting server; a service that asks to wait longer
#: than 5 s (``Retry-After``) is reported at once, with its sentence.
RETRY = RetryPolicy(
    attempts=2, backoff_seconds=0.5, max_backoff_seconds=0.5, max_retry_after_seconds=5.0
)


def connect(args: argparse.Namespace) -> RouterClient:
    """A client for the service named by ``--url``/``--key`` (or the environment)."""
    return RouterClient(args.url, args.key, timeout=TIMEOUT, retry=RETRY)
