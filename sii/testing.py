"""A scripted OpenAI-compatible server on loopback: the same HTTP protocol as vLLM (`/v1/models`,
streamed `/v1/chat/completions`), replies taken from a script, every request body kept for inspection.
Used where a test needs deterministic model behaviour; the real vLLM server covers the real protocol.
It can also misbehave on cue, as real servers do: error statuses, silence, keep-alive comments, stalls, cut
streams, errors inside a 200 stream, and context-length refusals worded like vLLM's or OpenAI's."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

MODEL = "scripted-model"
FILLER_EVERY_S = 0.05  # how often a paused stream sends its filler line


@dataclass
class Reply:
    """One scripted assistant turn. Text is streamed in `chunk`-sized pieces, `delay` seconds apart."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    reasoning: str = ""
    chunk: int = 4
    delay: float = 0.0
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"
    status: int = 200  # another status: answered with `error` as the JSON body, and `headers`, no stream
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    silent: bool = False  # read the request, then send nothing until the server shuts down
    pause_after: int | None = None  # pause the stream after this many chunks (0: right after the headers)
    pause: float = math.inf  # seconds; inf: until the server shuts down
    filler: str | None = None  # a raw line sent every FILLER_EVERY_S while paused, e.g. ": keep-alive"
    cut_after: int | None = None  # hang up after this many chunks: no finish_reason, no [DONE]
    stream_error: dict[str, Any] | None = None  # a chunk sent after the first one, ending the stream
    # A reply exactly as a faulty server would send it, in place of the above: `events`, the data of each
    # server-sent event (any text: a malformed chunk is sent as is); or `body`, the whole response body,
    # sent with `headers` (a non-streamed completion, a gzip body that does not decode...). Both are sent
    # with a Content-Length.
    events: list[str] | None = None
    body: bytes | None = None

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


def call(name: str, arguments: dict[str, Any] | str) -> tuple[str, dict[str, Any] | str]:
    return (name, arguments)


class ScriptedServer:
    """Serve `script` in order; when it runs out, answer with a plain 'done.'."""

    def __init__(
        self,
        script: list[Reply] | None = None,
        max_model_len: int = 32768,
        port: int = 0,
        window_errors: Literal["vllm", "openai"] | None = None,
        advertise_window: bool = True,
        chars_per_token: float = 4.0,
    ) -> None:
        """`window_errors`: refuse requests whose prompt plus max_tokens exceed `max_model_len` (counted at
        `chars_per_token`), worded like that server; `advertise_window`: list max_model_len in /v1/models."""
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []  # every chat request, refused ones included
        self.received: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers) of every request
        # When each chat request arrived and each reply was sent in full (time.monotonic()), for bench/.
        self.posted_at: list[float] = []
        self.answered_at: list[float] = []
        self.max_model_len = max_model_len
        self.window_errors = window_errors
        self.advertise_window = advertise_window
        self.chars_per_token = chars_per_token
        self.closing = threading.Event()  # ends every pause and silence
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
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if (refusal := self.window_refusal(body)) is not None:
                return refusal
            return self.script.pop(0) if self.script else Reply("done.")

    def window_refusal(self, body: dict[str, Any]) -> Reply | None:
        """A 400 like the real server's when the request does not fit the window (the script is not used)."""
        prompt, window = _prompt_tokens(body, self.chars_per_token), self.max_model_len
        completion = body.get("max_tokens") or max(window - prompt, 1)
        if self.window_errors is None or prompt + completion <= window:
            return None
        if self.window_errors == "vllm":
            message = (
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
                "Please reduce the length of the messages or completion."
            )
            return Reply(status=400, error={"message": message, "type": "BadRequestError", "param": None, "code": 400})
        message = "Your input exceeds the context window of this model. Please adjust your input and try again."
        error = {"message": message, "type": "invalid_request_error", "param": "messages"}
        return Reply(status=400, error={**error, "code": "context_length_exceeded"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart on keep-alive

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _raw(self, reply: Reply) -> None:
                events = "".join(f"data: {event}\n\n" for event in reply.events or [])
                data = reply.body if reply.body is not None else events.encode("utf-8", "surrogatepass")
                self.send_response(200)
                headers = {"Content-Type": "text/event-stream", **reply.headers, "Content-Length": str(len(data))}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.received.append((self.command, self.path, dict(self.headers)))
                if self.path in ("/v1/models", "/models"):
                    model: dict[str, Any] = {"id": MODEL, "object": "model"}
                    if server.advertise_window:
                        model["max_model_len"] = server.max_model_len
                    self._json(200, {"object": "list", "data": [model]})
                elif self.path == "/health":
                    self._json(200, {})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                server.posted_at.append(time.monotonic())
                try:
                    self._post()
                finally:
                    server.answered_at.append(time.monotonic())

            def _post(self) -> None:
                server.received.append((self.command, self.path, dict(self.headers)))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server.next_reply(body)
                self.close_connection = True
                if reply.silent:
                    server.closing.wait()
                    return
                if reply.events is not None or reply.body is not None:
                    self._raw(reply)
                    return
                if reply.status != 200:
                    self._json(reply.status, {"error": reply.error or {"message": "scripted failure"}}, reply.headers)
                    return
                if not body.get("stream"):
                    self._json(200, _completion(reply, body, server.chars_per_token))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client hung up: fine
                    self._stream(reply, body)

            def _send_line(self, line: str) -> None:
                self.wfile.write(f"{line}\n\n".encode())
                self.wfile.flush()

            def _pause(self, reply: Reply) -> None:
                """Hold the stream for `reply.pause` seconds, sending the filler meanwhile."""
                until = time.monotonic() + reply.pause
                while not server.closing.wait(min(FILLER_EVERY_S, max(until - time.monotonic(), 0))):
                    if time.monotonic() >= until:
                        return
                    if reply.filler is not None:
                        self._send_line(reply.filler)

            def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
                chunks: Iterator[dict[str, Any]] = _chunks(reply, body, server.chars_per_token)  # lazy: `delay`
                if reply.stream_error is not None:
                    chunks = itertools.chain(itertools.islice(chunks, 1), [reply.stream_error])
                sent = 0
                for chunk in chunks:
                    if sent == reply.pause_after:
                        self._pause(reply)
                    if sent == reply.cut_after:
                        return
                    self._send_line(f"data: {json.dumps(chunk)}")
                    sent += 1
                if sent == reply.pause_after:
                    self._pause(reply)
                if sent != reply.cut_after:
                    self._send_line("data: [DONE]")

        return Handler


def _tool_call(index: int, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "index": index,
        "id": f"call_{index}_{name}",
        "type": "function",
        "function": {"name": name, "arguments": raw},
    }


def _prompt_tokens(body: dict[str, Any], chars_per_token: float) -> int:
    return int(len(json.dumps(body.get("messages", [])) + json.dumps(body.get("tools", []))) / chars_per_token)


def _usage(reply: Reply, body: dict[str, Any], chars_per_token: float = 4.0) -> dict[str, int]:
    """Token counts at ~4 characters a token (by default), so context-window logic sees realistic sizes."""
    prompt_tokens = _prompt_tokens(body, chars_per_token)
    completion_tokens = len(reply.content) // 4 + 1
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 0}


def _completion(reply: Reply, body: dict[str, Any], chars_per_token: float = 4.0) -> dict[str, Any]:
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
        "usage": _usage(reply, body, chars_per_token),
    }


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunks(reply: Reply, body: dict[str, Any], chars_per_token: float = 4.0) -> Iterator[dict[str, Any]]:
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
            if reply.delay:
                time.sleep(reply.delay)
            yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield _chunk({}, reply.finish())
    yield {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [],
        "usage": _usage(reply, body, chars_per_token),
    }
