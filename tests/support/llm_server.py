"""A real OpenAI-compatible HTTP server on loopback, with scripted replies.

``GET /v1/models`` and ``POST /v1/chat/completions`` speak the wire format the
openai client expects. Each request is recorded (path, headers, JSON body).
Token counts are words; ``cached_tokens`` is the prefix the prompt shares
with the one before it, as a one-slot prompt cache would serve.
Replies come from a queue of scripted :class:`Reply` values first, then from
``answer``, a function of the request body: by default a fair imitation of a
model that picks, for top selection, every candidate whose share is at least
one half, writes a task statement of two paragraphs naming each interface
(every ``def`` and ``class`` of the stubs), and a short text for anything else.
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
    # None: the connection is dropped without a reply (a request the server failed).
    answer: Callable[[dict[str, Any]], str | None] = field(
        default=lambda body: default_answer(body)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    # One slot's prompt-prefix cache, as llama.cpp keeps: the words of the last prompt.
    last_prompt: list[str] = field(default_factory=list)
    # Killed when this many completions have been answered: the next one gets no reply,
    # and the port stops listening, as when the server's process dies mid-run.
    kill_after: int | None = None
    stop: Callable[[], None] = field(default=lambda: None)

    def cached_words(self, body: dict[str, Any]) -> int:
        """The words this prompt shares, from its start, with the one before it."""
        words = [w for m in body.get("messages", []) for w in m["content"].split()]
        with self.lock:
            shared = 0
            for mine, theirs in zip(words, self.last_prompt, strict=False):
                if mine != theirs:
                    break
                shared += 1
            self.last_prompt = words
        return shared

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
    if "task statements" in body["messages"][0]["content"]:
        return task_statement(stub_names(text))
    return "Restore the feature so that the library behaves as documented."


def stub_names(prompt: str) -> list[str]:
    """The public names the interface stubs of a task-statement prompt define."""
    stubs = prompt.split("Feature interfaces", 1)[-1].split("The tests that will check it", 1)[0]
    names = re.findall(r"(?:def|class) (\w+)", stubs)
    return list(dict.fromkeys(n for n in names if not n.startswith("_")))


def task_statement(names: list[str]) -> str:
    """Two paragraphs that name ``names``, as the prompt asks."""
    listed = ", ".join(f"`{name}`" for name in names)
    return (
        f"Restore the feature so that the library behaves as documented: {listed}."
        " Each interface keeps the signature shown for it and accepts the same arguments.\n\n"
        "The tests check the values returned for ordinary inputs and for the edge cases"
        " the docstrings describe, so the implementation must follow the documented"
        " behaviour exactly, including the errors raised for invalid input."
    )


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
            number = self._record(body)  # this request's place, taken with the lock
            if server.kill_after is not None and number > server.kill_after:
                server.stop()
                self.close_connection = True
                return  # no reply at all: the client sees the connection dropped
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
                if content is None:
                    self.close_connection = True
                    return
                cached = server.cached_words(body)
                self._send(200, _completion(body, content, cached), reply.headers)

        def _record(self, body: Any) -> int:
            """Keep the request; returns how many completions have come, this one included."""
            with server.lock:
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                return len(server.completions())

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


def _completion(body: dict[str, Any], content: str, cached: int = 0) -> dict[str, Any]:
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
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


@contextmanager
def serve(latency: float = 0.0, port: int = 0) -> Iterator[Server]:
    """A running server on 127.0.0.1 (``port``: 0 for any free one), stopped on exit."""
    state = Server(latency=latency)
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = threading.Lock()

    def stop() -> None:
        if stopped.acquire(blocking=False):  # once, from a handler or from here
            httpd.shutdown()
            httpd.server_close()

    state.stop = stop
    try:
        yield state
    finally:
        stop()
