"""Service settings: read once, explicitly, by the CLI and handed to ``create_app``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage.engine import default_sqlite_url, sqlite_directory

__all__ = ["LangfuseSettings", "ProxySettings", "Settings", "langfuse_settings", "proxy_settings"]

ENV_DATABASE_URL = "BANDIT_ROUTER_DATABASE_URL"
ENV_ADMIN_KEY = "BANDIT_ROUTER_ADMIN_KEY"
ENV_MAX_POLICIES = "BANDIT_ROUTER_MAX_POLICIES"
ENV_MAX_IN_FLIGHT = "BANDIT_ROUTER_MAX_IN_FLIGHT"
ENV_LEARN_IN_CHILD = "BANDIT_ROUTER_LEARN_IN_CHILD"
ENV_MAX_WAIT_MS = "BANDIT_ROUTER_MAX_WAIT_MS"
ENV_METRICS_PUBLIC = "BANDIT_ROUTER_METRICS_PUBLIC"
ENV_ACCESS_LOG = "BANDIT_ROUTER_ACCESS_LOG"
#: The Langfuse SDK's own variable names.
ENV_LANGFUSE_PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"
ENV_LANGFUSE_SECRET_KEY = "LANGFUSE_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
ENV_LANGFUSE_HOST = "LANGFUSE_HOST"
ENV_LANGFUSE_POLL_SECONDS = "BANDIT_ROUTER_LANGFUSE_POLL_SECONDS"
ENV_LANGFUSE_QUEUE_SIZE = "BANDIT_ROUTER_LANGFUSE_QUEUE_SIZE"
ENV_LANGFUSE_REVIEW_SECONDS = "BANDIT_ROUTER_LANGFUSE_REVIEW_SECONDS"
#: The environment variables a model's ``endpoint.api_key_env`` may name (comma-separated).
ENV_PROVIDER_KEY_ENVS = "BANDIT_ROUTER_PROVIDER_KEY_ENVS"
ENV_PROXY_RETRIES = "BANDIT_ROUTER_PROXY_RETRIES"
ENV_PROXY_BACKOFF_SECONDS = "BANDIT_ROUTER_PROXY_BACKOFF_SECONDS"
ENV_PROXY_RETRY_AFTER_MAX_SECONDS = "BANDIT_ROUTER_PROXY_RETRY_AFTER_MAX_SECONDS"
ENV_PROXY_FIRST_BYTE_SECONDS = "BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS"
ENV_PROXY_READ_SECONDS = "BANDIT_ROUTER_PROXY_READ_SECONDS"
ENV_PROXY_MAX_FALLBACKS = "BANDIT_ROUTER_PROXY_MAX_FALLBACKS"
#: Seconds a session (a conversation kept on one model) lives after its last turn.
ENV_SESSION_TTL_SECONDS = "BANDIT_ROUTER_SESSION_TTL_SECONDS"
ENV_PROMPT_KEY = "BANDIT_ROUTER_PROMPT_KEY"
ENV_PROXY_ALLOW_PRIVATE = "BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS"
ENV_PROXY_JUDGE_QUEUE_SIZE = "BANDIT_ROUTER_PROXY_JUDGE_QUEUE_SIZE"
ENV_PROXY_JUDGE_WORKERS = "BANDIT_ROUTER_PROXY_JUDGE_WORKERS"

#: Langfuse score source -> router feedback source, unless a score's name says otherwise.
DEFAULT_SCORE_SOURCES: Mapping[str, str] = {
    "ANNOTATION": "reviewer",
    "EVAL": "judge",
    "API": "user",
}


@dataclass(frozen=True, slots=True)
class LangfuseSettings:
    """Where Langfuse is and how the router talks to it. Present only when configured."""

    public_key: str
    secret_key: str
    host: str = "https://cloud.langfuse.com"
    #: Seconds the SDK waits for one Langfuse request.
    timeout_seconds: int = 5
    #: Decisions and feedback waiting for export; beyond it they are dropped and counted.
    queue_size: int = 10_000
    #: How often the score poller reads new scores; 0 turns scores-in off.
    poll_seconds: float = 60.0
    #: Each poll reads again this far behind its cursor: Langfuse's public API shows a score
    #: up to ~10 minutes after it was made, so a score may appear with an older ``createdAt``
    #: than the newest already read. Repeats are harmless (idempotent by the score id).
    lookback_seconds: float = 900.0
    #: How often sampled decisions are added to their policy's annotation queue (made by
    #: ``bandit-router langfuse setup POLICY``); 0 turns it off.
    review_seconds: float = 60.0
    #: Router feedback source for a Langfuse score, looked up by ``"name/SOURCE"``, then
    #: ``"name"``, then ``"SOURCE"`` (``ANNOTATION``, ``EVAL``, ``API``); no entry: skipped.
    sources: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_SCORE_SOURCES)
    )
    #: Score for a categorical label (or ``"True"``/``"False"`` of a boolean score); labels
    #: not here are scaled by their score config's category values.
    categories: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """How ``POST /v1/chat/completions`` calls providers."""

    #: The environment variables a model's ``endpoint.api_key_env`` may name; the keys are
    #: read from the environment at call time and never stored.
    key_envs: frozenset[str] = frozenset()
    #: Retries of one model after a 429, a 5xx, a timeout or a connection error, before
    #: falling back to the next model.
    retries: int = 2
    #: The first retry waits this long, each next one twice as long (plus up to 10% jitter).
    backoff_seconds: float = 0.25
    #: A provider's ``Retry-After`` is honoured up to this many seconds.
    retry_after_max_seconds: float = 10.0
    #: Seconds to connect, and for a stream to send its first chunk (a slow start is retried,
    #: then falls back).
    first_byte_seconds: float = 30.0
    #: Seconds for a whole answer that is not streamed, and the longest wait for the next
    #: piece of a stream that has started (the OpenAI SDK's own default timeout).
    read_seconds: float = 600.0
    #: Fallback decisions after the first model failed (each is a decision of its own).
    max_fallbacks: int = 3
    #: Answers waiting for a policy's judge; while it is full no decision is sampled for the
    #: judge, and an answer that still finds it full is dropped (counted as shed).
    judge_queue_size: int = 1000
    #: Judge calls in flight at once, per process.
    judge_workers: int = 4
    #: Endpoints may be loopback, private or link-local addresses (a local vLLM or Ollama);
    #: off, the router calls public addresses only.
    allow_private_endpoints: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to start. Defaults give the zero-setup SQLite service."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    #: Persist a snapshot after this many newly learned interactions ...
    snapshot_every: int = 1000
    #: ... or after this many seconds with anything new learned.
    snapshot_seconds: float = 30.0
    #: How often the learning loop looks for closed reward windows and new rewards.
    learn_interval_seconds: float = 1.0
    #: HTTP requests one process handles at once; beyond it, 503 with ``Retry-After`` at once
    #: (``BANDIT_ROUTER_MAX_IN_FLIGHT``). Far above what a few hundred busy connections need.
    max_in_flight: int = 1000
    #: New route and feedback calls are refused with 503 while the event loop has kept a queue
    #: longer than this for 100 ms (``BANDIT_ROUTER_MAX_WAIT_MS``, 0 turns it off).
    max_wait_seconds: float | None = 0.01
    #: How often a server asks for (or checks it still holds) the learner role.
    role_seconds: float = 1.0
    #: A session (a conversation kept on one model) is forgotten this long after its last
    #: turn (``BANDIT_ROUTER_SESSION_TTL_SECONDS``): a day.
    session_ttl_seconds: float = 86_400.0
    #: How often a server checks the database for catalog changes made through another one.
    catalog_sync_seconds: float = 0.5
    #: How often model health (which models cool down) is read from the database.
    model_health_seconds: float = 1.0
    max_candidates: int = 50
    #: Ceiling on the number of policies: each keeps a learner in memory (4 MB at 18 bits).
    max_policies: int = 1000
    #: A rebuild with more interactions to learn than this runs in a child process (VW
    #: learning holds the GIL, so a thread would still stall routing); smaller ones run
    #: in-process, handing the event loop back every few interactions.
    relearn_in_process_max: int = 2000
    #: Learn in a child process (``BANDIT_ROUTER_LEARN_IN_CHILD``): the event loop only swaps
    #: the learned state in, so a burst of feedback does not delay routes. False learns on the
    #: event loop (a database a child cannot open: SQLite in memory).
    learn_in_child: bool = True
    #: Heavy reports (evaluation, drift) computed at once; one more gets 503 with Retry-After.
    max_heavy_jobs: int = 2
    #: Compute heavy reports in child processes (off the event loop and out of the GIL); False
    #: uses a worker thread, for databases a child cannot open (SQLite in memory).
    heavy_jobs_in_processes: bool = True
    #: Create the example catalog and the ``default`` policy when the database has none.
    bootstrap: bool = True
    #: ``BANDIT_ROUTER_ADMIN_KEY``: a secret accepted as an admin key (never rate-limited).
    admin_key: str | None = None
    #: Where ``serve`` writes the admin key it creates on a database without keys (when no
    #: ``admin_key`` is set); ``None``: beside the SQLite file, else ``./var/admin.key``.
    admin_key_file: Path | None = None
    #: ``BANDIT_ROUTER_PROMPT_KEY``: the key of prompt and word hashes (64 hex digits).
    prompt_key: str | None = field(default=None, repr=False)
    #: Langfuse traces out and scores in; None: off.
    langfuse: LangfuseSettings | None = None
    #: The OpenAI-compatible proxy's provider calls.
    proxy: ProxySettings = dataclasses.field(default_factory=ProxySettings)
    #: ``GET /metrics`` without a key (``BANDIT_ROUTER_METRICS_PUBLIC``); by default it needs
    #: a ``read`` key, like every other figure of the service.
    metrics_public: bool = False
    #: One JSON line per HTTP request on the ``bandit_router.access`` logger
    #: (``BANDIT_ROUTER_ACCESS_LOG=off`` turns it off).
    access_log: bool = True
    #: Tune the garbage collector for a long-running server once started (``serve`` does;
    #: a process that builds many apps, such as a test run, keeps CPython's defaults).
    tune_gc: bool = False

    def prompt_key_path(self) -> Path | None:
        """Where the prompt key is kept beside a SQLite file; None elsewhere (PostgreSQL
        servers share it through ``BANDIT_ROUTER_PROMPT_KEY``)."""
        directory = sqlite_directory(self.database_url)
        return None if directory is None else directory / "prompt.key"

    def bootstrap_key_path(self) -> Path:
        if self.admin_key_file is not None:
            return self.admin_key_file
        return (sqlite_directory(self.database_url) or Path("var")) / "admin.key"

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        database_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
    ) -> Settings:
        """Command-line values win over ``BANDIT_ROUTER_DATABASE_URL``, which wins over
        the default SQLite file ``./var/bandit-router.db``. ``BANDIT_ROUTER_MAX_POLICIES``
        sets ``max_policies``. ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` (and
        optionally ``LANGFUSE_HOST``) turn Langfuse on;
        ``BANDIT_ROUTER_LANGFUSE_POLL_SECONDS`` sets how often scores are read back and
        ``BANDIT_ROUTER_LANGFUSE_QUEUE_SIZE`` the export queue,
        ``BANDIT_ROUTER_LANGFUSE_REVIEW_SECONDS`` how often review queues are fed.
        ``BANDIT_ROUTER_PROVIDER_KEY_ENVS`` and ``BANDIT_ROUTER_PROXY_*`` configure the
        proxy (see ``proxy_settings``).
        ``BANDIT_ROUTER_SESSION_TTL_SECONDS`` sets how long a session outlives its last
        turn. ``BANDIT_ROUTER_METRICS_PUBLIC`` and ``BANDIT_ROUTER_ACCESS_LOG`` (on/off) open
        ``/metrics`` to scrapers without a key and turn the access log on or off."""
        url = database_url or environ.get(ENV_DATABASE_URL) or default_sqlite_url(Path("var"))
        admin_key = environ.get(ENV_ADMIN_KEY, "").strip() or None
        prompt_key = environ.get(ENV_PROMPT_KEY, "").strip() or None
        settings = cls(
            database_url=url,
            host=host,
            port=port,
            admin_key=admin_key,
            prompt_key=prompt_key,
            langfuse=langfuse_settings(environ),
            proxy=proxy_settings(environ),
        )
        settings = dataclasses.replace(
            settings,
            metrics_public=_switch(environ, ENV_METRICS_PUBLIC, default=False),
            access_log=_switch(environ, ENV_ACCESS_LOG, default=True),
            learn_in_child=_switch(environ, ENV_LEARN_IN_CHILD, default=True),
            session_ttl_seconds=float(
                _whole(environ, ENV_SESSION_TTL_SECONDS, 86_400, 30 * 86_400, low=1)
            ),
        )
        settings = _admission(environ, settings)
        max_policies = environ.get(ENV_MAX_POLICIES)
        if max_policies is None:
            return settings
        if not max_policies.isdigit() or int(max_policies) < 1:
            raise ValueError(
                f"{ENV_MAX_POLICIES} must be a positive whole number, got {max_policies!r}."
            )
        return dataclasses.replace(settings, max_policies=int(max_policies))


def _admission(environ: Mapping[str, str], settings: Settings) -> Settings:
    """``BANDIT_ROUTER_MAX_IN_FLIGHT`` and ``BANDIT_ROUTER_MAX_WAIT_MS``: load shedding."""
    in_flight = environ.get(ENV_MAX_IN_FLIGHT)
    if in_flight is not None:
        if not in_flight.isdigit() or not 1 <= int(in_flight) <= 1_000_000:
            raise ValueError(
                f"{ENV_MAX_IN_FLIGHT} must be a whole number from 1 to 1000000, got {in_flight!r}."
            )
        settings = dataclasses.replace(settings, max_in_flight=int(in_flight))
    max_wait = environ.get(ENV_MAX_WAIT_MS)
    if max_wait is not None:
        if not max_wait.isdigit() or int(max_wait) > 60_000:
            raise ValueError(
                f"{ENV_MAX_WAIT_MS} must be a whole number of milliseconds from 0 (off) to "
                f"60000, got {max_wait!r}."
            )
        seconds = int(max_wait) / 1000 or None
        settings = dataclasses.replace(settings, max_wait_seconds=seconds)
    return settings


_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def _switch(environ: Mapping[str, str], variable: str, *, default: bool) -> bool:
    text = environ.get(variable, "").strip().lower()
    if not text:
        return default
    if text in _ON or text in _OFF:
        return text in _ON
    raise ValueError(f"{variable} must be on or off (1/0, true/false, yes/no), got {text!r}.")


def _seconds(variable: str, text: str, what: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0.0 <= seconds <= 86_400.0:
        raise ValueError(
            f"{variable} must be a number of seconds from 0 ({what} off) to 86400, got {text!r}."
        )
    return seconds


def langfuse_settings(environ: Mapping[str, str]) -> LangfuseSettings | None:
    public_key = environ.get(ENV_LANGFUSE_PUBLIC_KEY, "").strip()
    secret_key = environ.get(ENV_LANGFUSE_SECRET_KEY, "").strip()
    if not public_key and not secret_key:
        return None
    if not public_key or not secret_key:
        missing = ENV_LANGFUSE_SECRET_KEY if public_key else ENV_LANGFUSE_PUBLIC_KEY
        raise ValueError(
            f"Langfuse needs both {ENV_LANGFUSE_PUBLIC_KEY} and {ENV_LANGFUSE_SECRET_KEY}; "
            f"{missing} is not set."
        )
    settings = LangfuseSettings(public_key=public_key, secret_key=secret_key)
    host = environ.get(ENV_LANGFUSE_HOST, "").strip()
    if host:
        settings = dataclasses.replace(settings, host=host)
    poll = environ.get(ENV_LANGFUSE_POLL_SECONDS, "").strip()
    if poll:
        seconds = _seconds(ENV_LANGFUSE_POLL_SECONDS, poll, "scores-in")
        settings = dataclasses.replace(settings, poll_seconds=seconds)
    review = environ.get(ENV_LANGFUSE_REVIEW_SECONDS, "").strip()
    if review:
        seconds = _seconds(ENV_LANGFUSE_REVIEW_SECONDS, review, "review queues")
        settings = dataclasses.replace(settings, review_seconds=seconds)
    size = environ.get(ENV_LANGFUSE_QUEUE_SIZE, "").strip()
    if size:
        if not size.isdigit() or not 1 <= int(size) <= 1_000_000:
            raise ValueError(
                f"{ENV_LANGFUSE_QUEUE_SIZE} must be a whole number from 1 to 1000000, got {size!r}."
            )
        settings = dataclasses.replace(settings, queue_size=int(size))
    return settings


def proxy_settings(environ: Mapping[str, str]) -> ProxySettings:
    """``BANDIT_ROUTER_PROVIDER_KEY_ENVS`` (``OPENAI_API_KEY,ANTHROPIC_API_KEY``) lists the
    variables endpoints may name; ``BANDIT_ROUTER_PROXY_RETRIES``, ``..._BACKOFF_SECONDS``,
    ``..._RETRY_AFTER_MAX_SECONDS``, ``..._FIRST_BYTE_SECONDS``, ``..._READ_SECONDS``,
    ``..._MAX_FALLBACKS``, ``..._JUDGE_QUEUE_SIZE`` and ``..._JUDGE_WORKERS`` override the
    defaults of ``ProxySettings``."""
    names = environ.get(ENV_PROVIDER_KEY_ENVS, "")
    default = ProxySettings()
    return ProxySettings(
        key_envs=frozenset(name.strip() for name in names.split(",") if name.strip()),
        retries=_whole(environ, ENV_PROXY_RETRIES, default.retries, 10),
        max_fallbacks=_whole(environ, ENV_PROXY_MAX_FALLBACKS, default.max_fallbacks, 31),
        judge_queue_size=_whole(
            environ, ENV_PROXY_JUDGE_QUEUE_SIZE, default.judge_queue_size, 1_000_000, low=1
        ),
        judge_workers=_whole(environ, ENV_PROXY_JUDGE_WORKERS, default.judge_workers, 64, low=1),
        allow_private_endpoints=_switch(environ, ENV_PROXY_ALLOW_PRIVATE, default=False),
        # A backoff or cap of 0 means "no wait"; a timeout of 0 would fail every call.
        backoff_seconds=_span(environ, ENV_PROXY_BACKOFF_SECONDS, default.backoff_seconds, 60.0),
        retry_after_max_seconds=_span(
            environ, ENV_PROXY_RETRY_AFTER_MAX_SECONDS, default.retry_after_max_seconds, 600.0
        ),
        first_byte_seconds=_span(
            environ, ENV_PROXY_FIRST_BYTE_SECONDS, default.first_byte_seconds, 3600.0, above=True
        ),
        read_seconds=_span(
            environ, ENV_PROXY_READ_SECONDS, default.read_seconds, 3600.0, above=True
        ),
    )


def _whole(
    environ: Mapping[str, str], variable: str, default: int, high: int, *, low: int = 0
) -> int:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{variable} must be a whole number from {low} to {high}, got {text!r}.")
    return int(text)


def _span(
    environ: Mapping[str, str], variable: str, default: float, high: float, *, above: bool = False
) -> float:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not ((value > 0.0) if above else (value >= 0.0)) or not value <= high:
        low = "above 0" if above else "from 0"
        raise ValueError(
            f"{variable} must be a number of seconds {low} up to {high:g}, got {text!r}."
        )
    return value
