"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

It speaks ``POST /v1/chat/completions`` over real HTTP, so the `openai`
client, its transport and vpm's error handling all run as they would
against a real provider. Each test scripts its misbehaviour by queueing
`Reply` objects. Once the queue is empty, the server's responder builds
the reply. The default, `respond`, builds a good one: JSON extractions
when the request asks for a JSON object, otherwise a short summary or
rewording.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_SUMMARY = "LLM要約: キャッシュは Redis に決定。負荷試験が次の作業。"
GOOD_EXTRACTIONS = {
    "decisions": ["Use Redis for the cache."],
    "questions": ["Who owns the dashboard?"],
    "todos": ["Write the load test."],
    "risks": ["Memory pressure on small nodes."],
}
REWORD_PREFIX = "Team: "


@dataclass
class Reply:
    """One scripted response.

    Attributes:
        status: HTTP status code.
        content: Message content of a 200 reply; None sends JSON null.
        body: Raw response body; when set, `content` is ignored.
        headers: Extra response headers, such as ``Retry-After``.
        delay: Seconds to wait before sending the response.
        finish_reason: ``finish_reason`` of the only choice.
        trickle: When set, the server announces ``Content-Length: 100000``
            and sends `trickle_bytes` spaces, one every `trickle` seconds,
            then closes the connection. This defeats per-read timeouts.
        trickle_headers: Trickle a header value instead of the body, so
            the response headers never finish.
        trickle_bytes: Bytes sent one at a time before the server closes.
    """

    status: int = 200
    content: str | None = GOOD_SUMMARY
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    trickle: float = 0.0
    trickle_headers: bool = False
    trickle_bytes: int = 40


@dataclass
class Request:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def respond(request: dict[str, Any]) -> Reply:
    """Build a good reply that fits the request's task."""
    if request.get("response_format", {}).get("type") == "json_object":
        return Reply(content=json.dumps(GOOD_EXTRACTIONS))
    system = request["messages"][0]["content"]
    if system.startswith("Reword"):
        draft = request["messages"][-1]["content"]
        return Reply(content=REWORD_PREFIX + draft)
    return Reply()


def completion_body(reply: Reply, model: str) -> bytes:
    """Serialize `reply` as a chat-completion response body."""
    if reply.body is not None:
        return reply.body
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return json.dumps(payload).encode("utf-8")


class FakeLlm:
    """State shared by the handler threads: scripted replies and a request log."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply] = respond):
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.responder = responder
        self.url = ""
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def queue(self, *replies: Reply) -> None:
        """Send `replies` to the next requests, in order."""
        with self._lock:
            self.replies.extend(replies)

    def next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.replies:
                return self.replies.popleft()
        return self.responder(request.body)


def _handler_for(fake: FakeLlm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "no such route"}}', {})
                return
            body = json.loads(raw or b"{}")
            request = Request(self.path, dict(self.headers.items()), body)
            reply = fake.next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.trickle:
                self._trickle(reply)
                return
            self._send(
                reply.status,
                completion_body(reply, body.get("model", "")),
                reply.headers,
            )

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing is left to do.
                pass

        def _trickle(self, reply: Reply) -> None:
            """Send a response one byte at a time, then close without finishing."""
            self.close_connection = True
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                if reply.trickle_headers:
                    self.wfile.write(b"X-Padding: ")
                else:
                    self.wfile.write(
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n"
                    )
                self.wfile.flush()
                for _ in range(reply.trickle_bytes):
                    if fake.stopped.wait(reply.trickle):
                        return
                    self.wfile.write(b"a" if reply.trickle_headers else b" ")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up, which is what a trickle test checks.
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            # Keep test output quiet; tests read `FakeLlm.requests` instead.
            pass

    return Handler


@contextmanager
def serve_fake_llm(
    responder: Callable[[dict[str, Any]], Reply] = respond,
) -> Iterator[FakeLlm]:
    """Run a `FakeLlm` on a free port of 127.0.0.1 until the block ends."""
    fake = FakeLlm(responder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def unused_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
