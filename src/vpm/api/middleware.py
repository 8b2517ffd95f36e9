"""ASGI middleware: trace ids, the request-body limit and request metrics.

It wraps the whole app, so every response carries `X-Trace-Id`, including
errors and responses to requests that never reach a route.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from vpm.api.metrics import ServiceMetrics

log = logging.getLogger("vpm")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRACE_HEADER = "X-Trace-Id"
TRACE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The `method` label keeps these names; any other method is counted as
# `other`, so a client that invents methods cannot add label values.
METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def new_trace_id() -> str:
    return uuid.uuid4().hex


def error_body(error: str, detail: Any) -> bytes:
    """Encode the JSON error body every failed request gets.

    A detail that echoes request input may contain a lone surrogate, which
    UTF-8 cannot encode. The body is then written with `\\uXXXX` escapes,
    which is still valid JSON.
    """
    body = {"error": error, "detail": detail}
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True).encode("ascii")


class _BodyTooLarge(Exception):
    pass


class ServiceMiddleware:
    """Assign the trace id, enforce the body limit and record metrics.

    Args:
        app: The wrapped ASGI app.
        metrics: Where request counts and durations go.
        max_body_bytes: Larger request bodies get 413 before the app reads them.
        routes: The app's routes. Objects with `path_regex` and `path`
            (Starlette's `Route` and `Mount`) give the `route` label of
            requests that never reach the router.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        routes: Iterable[Any] = (),
    ):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.route_patterns = [
            (route.path_regex, route.path)
            for route in routes
            if hasattr(route, "path_regex") and hasattr(route, "path")
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope)
        requested_id = headers.get(TRACE_HEADER.lower())
        is_valid_id = _is_valid_trace_id(requested_id)
        trace_id = requested_id if is_valid_id else new_trace_id()
        scope.setdefault("state", {})["trace_id"] = trace_id
        response = _Response(send, trace_id)

        try:
            if requested_id is not None and not is_valid_id:
                log.info(
                    "rejected %s %s: invalid X-Trace-Id (trace %s)",
                    scope["method"],
                    scope["path"],
                    trace_id,
                )
                await response.error(
                    400,
                    "invalid-trace-id",
                    "X-Trace-Id must be 1 to 64 characters of A-Z, a-z, 0-9, '-' "
                    "and '_'.",
                )
            else:
                receive = await self._limit_body(headers, receive)
                await self.app(scope, receive, response.send)
        except _BodyTooLarge:
            log.info(
                "rejected %s %s: body over %d bytes (trace %s)",
                scope["method"],
                scope["path"],
                self.max_body_bytes,
                trace_id,
            )
            await response.error(
                413,
                "request-too-large",
                f"The request body exceeds {self.max_body_bytes} bytes "
                "(setting VPM_API_MAX_BODY_BYTES).",
            )
        except Exception:
            log.exception(
                "request %s %s failed (trace %s)",
                scope["method"],
                scope["path"],
                trace_id,
            )
            if response.started:
                raise
            await response.error(
                500, "internal-error", f"The server failed; trace id {trace_id}."
            )
        finally:
            self._record(scope, response.status, time.perf_counter() - started)

    async def _limit_body(self, headers: dict[str, str], receive: Receive) -> Receive:
        """Read the whole body up to the limit and hand it on unchanged."""
        length = headers.get("content-length")
        if length is None and "transfer-encoding" not in headers:
            return receive
        if (
            length is not None
            and length.isdigit()
            and int(length) > self.max_body_bytes
        ):
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message], receive)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return _replay([body], receive)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = self._route_label(scope)
        method = scope["method"] if scope["method"] in METRIC_METHODS else "other"
        self.metrics.requests.labels(
            route=route, method=method, status=str(status)
        ).inc()
        self.metrics.request_seconds.labels(route=route).observe(seconds)

    def _route_label(self, scope: Scope) -> str:
        """Return the template of the route whose path the request has.

        The router stores the route it picked in the scope. A request this
        middleware rejects (400 invalid-trace-id, 413) never reaches the
        router, so its path is matched here. Only a path that no route
        has is `unmatched`.
        """
        template = getattr(scope.get("route"), "path", None)
        if template:
            return template
        for pattern, template in self.route_patterns:
            if pattern.match(scope["path"]):
                return template
        return UNMATCHED_ROUTE


class _Response:
    """Watch the response on its way out and add the trace id header."""

    def __init__(self, send: Send, trace_id: str) -> None:
        self._send = send
        self.trace_id = trace_id
        self.status = 500
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"x-trace-id"
            ]
            headers.append((b"x-trace-id", self.trace_id.encode()))
            message["headers"] = headers
        await self._send(message)

    async def error(self, status: int, error: str, detail: str) -> None:
        body = error_body(error, detail)
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def _is_valid_trace_id(value: str | None) -> bool:
    return value is not None and TRACE_ID_PATTERN.fullmatch(value) is not None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
