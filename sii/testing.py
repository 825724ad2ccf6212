"""A scripted OpenAI-compatible server on loopback: the same HTTP protocol as vLLM (`/v1/models`,
streamed `/v1/chat/completions`), replies taken from a script, every request body kept for inspection.
Used where a test or a benchmark needs deterministic model behaviour; the real vLLM server covers the real
protocol. It lives in the package, not in tests/, so bench/ can drive sii against it too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted-model"


@dataclass
class Reply:
    """One scripted assistant turn. Text is streamed in `chunk`-sized pieces, `delay` seconds apart."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    reasoning: str = ""
    chunk: int = 4
    delay: float = 0.0
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


def call(name: str, arguments: dict[str, Any] | str) -> tuple[str, dict[str, Any] | str]:
    return (name, arguments)


class ScriptedServer:
    """Serve `script` in order; when it runs out, answer with a plain 'done.'."""

    def __init__(self, script: list[Reply] | None = None, max_model_len: int = 32768, port: int = 0) -> None:
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self.received: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers) of every request
        # time.monotonic() when each chat request arrived and when its reply was fully sent: start-up benchmarks
        self.posted_at: list[float] = []
        self.answered_at: list[float] = []
        self.max_model_len = max_model_len
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            return self.script.pop(0) if self.script else Reply("done.")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.received.append((self.command, self.path, dict(self.headers)))
                if self.path in ("/v1/models", "/models"):
                    model = {"id": MODEL, "object": "model", "max_model_len": server.max_model_len}
                    self._json(200, {"object": "list", "data": [model]})
                elif self.path == "/health":
                    self._json(200, {})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                server.posted_at.append(time.monotonic())
                server.received.append((self.command, self.path, dict(self.headers)))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server.next_reply(body)
                if not body.get("stream"):
                    self._json(200, _completion(reply, body))
                    server.answered_at.append(time.monotonic())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in _chunks(reply, body):
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (Ctrl-C): fine
                server.answered_at.append(time.monotonic())
                self.close_connection = True

        return Handler


def _tool_call(index: int, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "index": index,
        "id": f"call_{index}_{name}",
        "type": "function",
        "function": {"name": name, "arguments": raw},
    }


def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, int]:
    """Token counts at ~4 characters a token, so context-window logic sees realistic sizes."""
    prompt_tokens = len(json.dumps(body.get("messages", [])) + json.dumps(body.get("tools", []))) // 4
    completion_tokens = len(reply.content) // 4 + 1
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 0}


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    """The whole reply at once, for `stream: false` requests."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [_tool_call(i, name, args) for i, (name, args) in enumerate(reply.tool_calls)]
    choice = {"index": 0, "message": message, "finish_reason": reply.finish()}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [choice],
        "usage": _usage(reply, body),
    }


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunks(reply: Reply, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield stream chunks like vLLM does: role first, deltas, tool calls in fragments, finish, usage."""
    yield _chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.reasoning, reply.chunk):
        yield _chunk({"reasoning_content": piece})
    for piece in _pieces(reply.content, reply.chunk):
        if reply.delay:
            time.sleep(reply.delay)
        yield _chunk({"content": piece})
    for index, (name, arguments) in enumerate(reply.tool_calls):
        whole = _tool_call(index, name, arguments)
        raw = whole["function"].pop("arguments")
        yield _chunk({"tool_calls": [whole]})
        for piece in _pieces(raw, 7):
            yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield _chunk({}, reply.finish())
    yield {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [],
        "usage": _usage(reply, body),
    }
