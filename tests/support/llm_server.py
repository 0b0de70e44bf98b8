"""A real OpenAI-compatible HTTP server on loopback, with scripted replies.

``GET /v1/models`` and ``POST /v1/chat/completions`` speak the wire format the
openai client expects. Each request is recorded (path, headers, JSON body).
Replies come from a queue of scripted :class:`Reply` values first, then from
``answer``, a function of the request body: by default a fair imitation of a
model that picks, for top selection, every candidate whose share is at least
one half, and writes a short text for anything else.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "loopback-model"


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the completion text; None: the default answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # a body sent as is (garbage, say)


@dataclass
class Server:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: deque[Reply] = field(default_factory=deque)
    latency: float = 0.0
    answer: Callable[[dict[str, Any]], str] = field(default=lambda body: default_answer(body))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def completions(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]


def default_answer(body: dict[str, Any]) -> str:
    text = "\n".join(m["content"] for m in body["messages"])
    if '"selected"' in text:
        picked = []
        for head in re.findall(r"^### (\{.*\})$", text, re.MULTILINE):
            candidate = json.loads(head)
            if candidate["share"] >= 0.5:
                picked.append(candidate["qualname"])
        reasons = {name: "specific to these tests" for name in picked}
        return json.dumps({"selected": picked, "reasons": reasons})
    if "docstring" in body["messages"][0]["content"]:
        return "Compute the result the tests expect, from the arguments given."
    return "Restore the feature so that the library behaves as documented."


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._record(None)
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            self._record(body)
            with server.lock:
                reply = server.script.popleft() if server.script else Reply()
            time.sleep(reply.delay or server.latency)
            if reply.raw is not None:
                self._send_bytes(reply.status, reply.raw, reply.headers)
            elif reply.status != 200:
                error = {"error": {"message": f"scripted {reply.status}", "type": "server"}}
                self._send(reply.status, error, reply.headers)
            else:
                content = reply.content if reply.content is not None else server.answer(body)
                self._send(200, _completion(body, content), reply.headers)

        def _record(self, body: Any) -> None:
            with server.lock:
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )

        def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send_bytes(status, json.dumps(data).encode(), headers or {})

        def _send_bytes(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

    return Handler


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in body.get("messages", []))
    completion_tokens = len(content.split())
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", MODEL),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@contextmanager
def serve(latency: float = 0.0) -> Iterator[Server]:
    """A running server on 127.0.0.1, stopped on exit."""
    state = Server(latency=latency)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
