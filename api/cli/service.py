"""The one place the CLI talks to a running service: URLs, JSON bodies, errors.

Every remote command calls a method of :class:`Service` and never builds a URL itself, so
moving the CLI onto a typed HTTP client changes this module only. Each method returns the
JSON the service answered, unchanged, because ``--json`` prints exactly that.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Service", "ServiceError", "fetch_json", "open_service", "quote"]

#: Heavy reports (drift, evaluation) are computed on request; give them time.
REPORT_TIMEOUT = 600.0
TIMEOUT = 60.0


class ServiceError(Exception):
    """The service refused or could not be reached; the message is a sentence for the operator."""


@dataclass(frozen=True, slots=True)
class Service:
    """A running service at ``url``, called with the API key ``key`` (if any)."""

    url: str
    key: str | None = None

    def _get(
        self, path: str, query: Mapping[str, object] | None = None, timeout: float = TIMEOUT
    ) -> Any:
        return fetch_json(self.url, path, key=self.key, query=query, timeout=timeout)

    def _post(self, path: str, body: object | None = None) -> Any:
        return fetch_json(self.url, path, key=self.key, method="POST", body=body)

    def drift(self, policy: str, query: Mapping[str, object]) -> Any:
        return self._get(f"/v1/policies/{quote(policy)}/drift", query, REPORT_TIMEOUT)

    def evaluation(self, policy: str, query: Mapping[str, object]) -> Any:
        return self._get(f"/v1/policies/{quote(policy)}/evaluation", query, REPORT_TIMEOUT)

    @contextmanager
    def export(self, policy: str, query: Mapping[str, object]) -> Iterator[IO[bytes]]:
        """The export as a byte stream, read as it arrives."""
        path = f"/v1/policies/{quote(policy)}/export"
        with open_service(self.url, path, key=self.key, query=query) as response:
            yield response

    def experiments(self, policy: str | None = None) -> Any:
        return self._get("/v1/experiments/", None if policy is None else {"policy": policy})

    def experiment(self, experiment_id: str) -> Any:
        return self._get(f"/v1/experiments/{quote(experiment_id)}")

    def create_experiment(self, body: Mapping[str, object]) -> Any:
        return self._post("/v1/experiments/", dict(body))

    def act_on_experiment(self, experiment_id: str, action: str) -> Any:
        """``action`` is promote, rollback, pause or resume."""
        return self._post(f"/v1/experiments/{quote(experiment_id)}/{quote(action)}")

    def policies(self) -> Any:
        return self._get("/v1/policies/")

    def policy(self, name: str) -> Any:
        return self._get(f"/v1/policies/{quote(name)}")

    def policy_versions(self, name: str) -> Any:
        return self._get(f"/v1/policies/{quote(name)}/versions")

    def models(self) -> Any:
        return self._get("/v1/models/")

    def model(self, model_id: str) -> Any:
        return self._get(f"/v1/models/{quote(model_id)}")

    def decision(self, decision_id: str) -> Any:
        return self._get(f"/v1/decisions/{quote(decision_id)}")


def quote(segment: str) -> str:
    """A path segment, with ``/`` escaped too."""
    return urllib.parse.quote(segment, safe="")


@contextmanager
def open_service(
    base_url: str,
    path: str,
    *,
    key: str | None = None,
    query: Mapping[str, object] | None = None,
    method: str = "GET",
    body: object | None = None,
    timeout: float = TIMEOUT,
) -> Iterator[IO[bytes]]:
    """The response of ``method base_url + path``; a 4xx/5xx becomes its ``detail`` sentence.
    ``key`` is sent as ``Authorization: Bearer <key>``."""
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(  # noqa: S310 - the operator's own service URL
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            **({"authorization": f"Bearer {key}"} if key else {}),
        },
    )
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as error:
        raise ServiceError(_detail(error)) from error
    except urllib.error.URLError as error:
        raise ServiceError(f"cannot reach {base_url}: {error.reason}") from error
    except ValueError as error:  # urllib's "unknown url type" for a URL without a scheme
        raise ServiceError(f"{base_url!r} is not a service URL: {error}") from error
    with response:
        yield response


def fetch_json(
    base_url: str,
    path: str,
    *,
    key: str | None = None,
    query: Mapping[str, object] | None = None,
    method: str = "GET",
    body: object | None = None,
    timeout: float = TIMEOUT,
) -> Any:
    with open_service(
        base_url, path, key=key, query=query, method=method, body=body, timeout=timeout
    ) as response:
        try:
            return json.load(response)
        except (OSError, ValueError) as error:  # a timeout or a cut connection mid-answer
            raise ServiceError(f"{base_url} did not answer {path} in full: {error}") from error


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read() or b"{}").get("detail")
    except (ValueError, AttributeError):  # not our JSON error body (a proxy's page, say)
        detail = None
    return str(detail) if detail else f"the service answered {error.code} {error.reason}."
