"""A local fake Langfuse server: what the real ``langfuse`` SDK (v3) sends, recorded.

The SDK exports spans as OTLP/HTTP protobuf to ``/api/public/otel/v1/traces`` and scores as
JSON batches to ``/api/public/ingestion``; its generated API client reads scores from
``GET /api/public/v2/scores``, lists and creates score configs at
``/api/public/score-configs`` and annotation queues at ``/api/public/annotation-queues``, and
adds queue items with ``POST /api/public/annotation-queues/{id}/items``. The fake answers
these in the shapes of the SDK's own types (``ScoreConfig``, ``AnnotationQueue``,
``AnnotationQueueItem``), and can be told to fail (500) or to hang (an outage that never
answers until released).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["FakeLangfuse", "RecordedSpan", "fake_langfuse"]

Mode = Literal["ok", "error", "hang"]


@dataclass(frozen=True, slots=True)
class RecordedSpan:
    trace_id: str
    span_id: str
    name: str
    attributes: dict[str, Any]


@dataclass(slots=True)
class FakeLangfuse:
    """State shared with the handler threads; tests read it under ``lock``."""

    mode: Mode = "ok"
    spans: list[RecordedSpan] = field(default_factory=list)
    #: Bodies of ``score-create`` ingestion events, as the SDK sent them.
    sent_scores: list[dict[str, Any]] = field(default_factory=list)
    #: Scores the public API serves (as made in Langfuse's UI, queues or evaluators).
    scores: list[dict[str, Any]] = field(default_factory=list)
    score_configs: list[dict[str, Any]] = field(default_factory=list)
    annotation_queues: list[dict[str, Any]] = field(default_factory=list)
    #: Items by queue id, in the order they were added.
    queue_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Every request's method, path and query, in arrival order.
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def add_score(
        self,
        *,
        score_id: str,
        trace_id: str,
        name: str,
        value: float | str | bool,
        source: str = "ANNOTATION",
        created_at: datetime | None = None,
        config_id: str | None = None,
        metadata: Any = None,
    ) -> None:
        """A score as ``GET /api/public/v2/scores`` returns it (``GetScoresResponseData``)."""
        when = (created_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        body: dict[str, Any] = {
            "id": score_id,
            "traceId": trace_id,
            "name": name,
            "source": source,
            "timestamp": when,
            "createdAt": when,
            "updatedAt": when,
            "comment": None,
            "metadata": metadata,
            "configId": config_id,
            "environment": "default",
        }
        if isinstance(value, bool):
            body |= {"dataType": "BOOLEAN", "value": float(value), "stringValue": str(value)}
        elif isinstance(value, str):
            config = next((c for c in self.score_configs if c["id"] == config_id), None)
            categories = {c["label"]: c["value"] for c in (config or {}).get("categories") or []}
            body |= {
                "dataType": "CATEGORICAL",
                "value": categories.get(value, 0.0),
                "stringValue": value,
            }
        else:
            body |= {"dataType": "NUMERIC", "value": float(value)}
        with self.lock:
            self.scores.append(body)

    def add_config(
        self,
        *,
        config_id: str,
        name: str,
        data_type: str = "NUMERIC",
        min_value: float | None = None,
        max_value: float | None = None,
        categories: list[tuple[str, float]] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """A score config as ``GET /api/public/score-configs`` returns it (``ScoreConfig``)."""
        now = _now()
        with self.lock:
            self.score_configs.append(
                {
                    "id": config_id,
                    "name": name,
                    "createdAt": now,
                    "updatedAt": now,
                    "projectId": "project",
                    "dataType": data_type,
                    "isArchived": False,
                    "minValue": min_value,
                    "maxValue": max_value,
                    "categories": None
                    if categories is None
                    else [{"label": label, "value": value} for label, value in categories],
                    "description": description,
                }
            )
            return self.score_configs[-1]

    def add_queue(
        self, *, queue_id: str, name: str, score_config_ids: list[str], description: str | None
    ) -> dict[str, Any]:
        """An annotation queue as the public API returns it (``AnnotationQueue``)."""
        now = _now()
        queue = {
            "id": queue_id,
            "name": name,
            "description": description,
            "scoreConfigIds": score_config_ids,
            "createdAt": now,
            "updatedAt": now,
        }
        with self.lock:
            self.annotation_queues.append(queue)
            self.queue_items.setdefault(queue_id, [])
        return queue

    def items(self, queue_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.queue_items.get(queue_id, []))

    def traces(self) -> dict[str, list[RecordedSpan]]:
        with self.lock:
            grouped: dict[str, list[RecordedSpan]] = {}
            for span in self.spans:
                grouped.setdefault(span.trace_id, []).append(span)
            return grouped


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind is None:
        return None
    return getattr(value, kind)


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    page = int(query.get("page", ["1"])[0])
    limit = int(query.get("limit", ["50"])[0])
    total = len(items)
    return {
        "data": items[(page - 1) * limit : page * limit],
        "meta": {
            "page": page,
            "limit": limit,
            "totalItems": total,
            "totalPages": (total + limit - 1) // limit,
        },
    }


def _handler(state: FakeLangfuse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests assert on what arrived; a line per request is noise

        def _outage(self) -> bool:
            if state.mode == "hang":
                state.released.wait()
                return True
            if state.mode == "error":
                self._json(500, {"message": "Internal Server Error"})
                return True
            return False

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            with state.lock:
                state.requests.append(("GET", url.path, query))
            if self._outage():
                return
            if url.path == "/api/public/v2/scores":
                since = query.get("fromTimestamp", [None])[0]
                with state.lock:
                    items = [
                        s
                        for s in state.scores
                        if since is None or _instant(s["createdAt"]) >= _instant(since)
                    ]
                # Langfuse lists scores newest first.
                items.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)
                self._json(200, _page(items, query))
            elif url.path == "/api/public/score-configs":
                with state.lock:
                    configs = list(state.score_configs)
                self._json(200, _page(configs, query))
            elif url.path == "/api/public/annotation-queues":
                with state.lock:
                    queues = list(state.annotation_queues)
                self._json(200, _page(queues, query))
            elif (queue_id := _items_path(url.path)) is not None:
                with state.lock:
                    known = queue_id in state.queue_items
                    items = list(state.queue_items.get(queue_id, []))
                if known:
                    self._json(200, _page(items, query))
                else:
                    self._json(404, {"message": f"no annotation queue {queue_id}"})
            else:
                self._json(404, {"message": f"no route {url.path}"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self._body()
            with state.lock:
                state.requests.append(("POST", url.path, {}))
            if self._outage():
                return
            if url.path == "/api/public/otel/v1/traces":
                export = ExportTraceServiceRequest()
                export.ParseFromString(body)
                spans = [
                    RecordedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        name=span.name,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                    for resource in export.resource_spans
                    for scope in resource.scope_spans
                    for span in scope.spans
                ]
                with state.lock:
                    state.spans.extend(spans)
                self._json(200, {})
            elif url.path == "/api/public/ingestion":
                batch = json.loads(body)["batch"]
                with state.lock:
                    state.sent_scores.extend(
                        e["body"] for e in batch if e["type"] == "score-create"
                    )
                successes = [{"id": e["id"], "status": 201} for e in batch]
                self._json(207, {"successes": successes, "errors": []})
            elif url.path == "/api/public/score-configs":
                request = json.loads(body)  # ``CreateScoreConfigRequest``
                config = state.add_config(
                    config_id=f"config-{uuid.uuid4().hex[:12]}",
                    name=request["name"],
                    data_type=request["dataType"],
                    min_value=request.get("minValue"),
                    max_value=request.get("maxValue"),
                    categories=None
                    if request.get("categories") is None
                    else [(c["label"], c["value"]) for c in request["categories"]],
                    description=request.get("description"),
                )
                self._json(200, config)
            elif url.path == "/api/public/annotation-queues":
                request = json.loads(body)  # ``CreateAnnotationQueueRequest``
                with state.lock:
                    known = {c["id"] for c in state.score_configs}
                missing = [c for c in request["scoreConfigIds"] if c not in known]
                if missing:
                    self._json(400, {"message": f"unknown score configs {missing}"})
                    return
                queue = state.add_queue(
                    queue_id=f"queue-{uuid.uuid4().hex[:12]}",
                    name=request["name"],
                    score_config_ids=request["scoreConfigIds"],
                    description=request.get("description"),
                )
                self._json(200, queue)
            elif (queue_id := _items_path(url.path)) is not None:
                request = json.loads(body)  # ``CreateAnnotationQueueItemRequest``
                now = _now()
                item = {
                    "id": f"item-{uuid.uuid4().hex[:12]}",
                    "queueId": queue_id,
                    "objectId": request["objectId"],
                    "objectType": request["objectType"],
                    "status": request.get("status") or "PENDING",
                    "completedAt": None,
                    "createdAt": now,
                    "updatedAt": now,
                }
                with state.lock:
                    items = state.queue_items.get(queue_id)
                    if items is not None:
                        items.append(item)
                if items is None:
                    self._json(404, {"message": f"no annotation queue {queue_id}"})
                else:
                    self._json(200, item)
            else:
                self._json(404, {"message": f"no route {url.path}"})

    return Handler


def _items_path(path: str) -> str | None:
    """The queue id of ``/api/public/annotation-queues/{id}/items``, else None."""
    parts = path.split("/")
    if (
        len(parts) == 6
        and parts[1:4] == ["api", "public", "annotation-queues"]
        and parts[5] == "items"
    ):
        return parts[4] or None
    return None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@contextmanager
def fake_langfuse() -> Iterator[FakeLangfuse]:
    """Serve a fake Langfuse on a free local port for the duration of the block."""
    state = FakeLangfuse()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-langfuse", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()  # hung handlers answer nothing and end
        server.shutdown()
        server.server_close()
        thread.join()
