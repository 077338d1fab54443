"""A typed Python client for the router's HTTP API, sync and async, over httpx.

>>> from api.client import RouterClient
>>> client = RouterClient("http://127.0.0.1:8000", key="...")  # or $BANDIT_ROUTER_URL/_KEY
>>> client.close()

Answers are the service's own wire structs (``api.http.schemas``); refusals raise the
``RouterError`` tree (see ``api/client/_errors.py``). docs/client.md has the full tour.
"""

from api.client._async import AsyncExportStream, AsyncRouterClient
from api.client._calls import ExperimentAction, ExportFormat
from api.client._config import ENV_KEY, ENV_URL
from api.client._errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RouterError,
    UnauthorizedError,
    UnavailableError,
    UnreachableError,
)
from api.client._retry import RetryPolicy
from api.client._sync import ExportStream, RouterClient
from api.http.schemas import (
    EscalateIn,
    ExperimentIn,
    FeedbackIn,
    GuardrailsIn,
    KeyIn,
    ModelIn,
    PolicyIn,
    RouteIn,
)

__all__ = [
    "ENV_KEY",
    "ENV_URL",
    "AsyncExportStream",
    "AsyncRouterClient",
    "ConflictError",
    "EscalateIn",
    "ExperimentAction",
    "ExperimentIn",
    "ExportFormat",
    "ExportStream",
    "FeedbackIn",
    "ForbiddenError",
    "GuardrailsIn",
    "InvalidRequestError",
    "KeyIn",
    "ModelIn",
    "NotFoundError",
    "PolicyIn",
    "RateLimitedError",
    "RetryPolicy",
    "RouteIn",
    "RouterClient",
    "RouterError",
    "UnauthorizedError",
    "UnavailableError",
    "UnreachableError",
]
