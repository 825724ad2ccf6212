"""OpenAI-compatible chat client over httpx: streaming SSE, tool-call deltas assembled into whole calls."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from recordings.schema import Message, ToolCall
from sii.textcalls import extract_text_tool_calls
from sii.transport import (
    CallBudget,
    ModelError,
    RetryableError,
    Timeouts,
    Watchdog,
    context_overflow,
    setting_hint,
    status_error,
    timeout_error,
)

MAX_BODY_BYTES = 1 << 20  # an error body or a model list: more than this is cut
MAX_LINE_BYTES = 16 << 20  # one line of a stream (one chunk of the reply)
T = TypeVar("T")


@dataclass
class Completion:
    """One assistant reply, assembled from the stream."""

    message: Message
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)


def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as the server receives them: tool-call arguments serialised as JSON strings, reasoning sent
    back as `reasoning_content` (what vLLM chat templates read). The recording keeps the object form."""
    wire = []
    for message in messages:
        out: dict[str, Any] = {k: v for k, v in message.items() if k not in ("reasoning", "tool_calls")}
        if message.get("reasoning"):
            out["reasoning_content"] = message["reasoning"]
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": encode_arguments(call["function"]["arguments"]),
                    },
                }
                for call in message["tool_calls"]
            ]
        wire.append(out)
    return wire


def encode_arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def decode_arguments(raw: str) -> dict[str, Any] | str:
    """Parse streamed arguments into an object; an unparsable string is kept as is (the tool reports it)."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return parsed if isinstance(parsed, dict) else raw


class ModelClient:
    """Talks to one OpenAI-compatible server. Every wait is bounded and failures are retried as sii.transport
    describes; a reply is returned only when the server finished it."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
        context_window: int | None = None,
    ) -> None:
        """`context_window`: the window to assume when the server does not report one for the model."""
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx's bound is per read: a backstop only, the watchdog ends the call sooner
        backstop = max(self.timeouts.first_token_timeout, self.timeouts.idle_timeout)
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(backstop, connect=self.timeouts.connect_timeout),
            # a fresh connection per call: the watchdog learns every connection's socket from its connect
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._model = model
        self._configured_window = context_window
        self.context_window: int | None = context_window
        self._listed = False

    @property
    def model(self) -> str:
        """The served model name; when none was given, the first one the server lists. The list is read once
        either way: it holds the model's context window, which a named model needs as much as a default one."""
        if self._model is None or not self._listed:
            models = self.list_models()
            if self._model is None:
                if not models:
                    raise ModelError(f"the server at {self.base_url} serves no models")
                self._model = models[0]["id"]
        return self._model

    def use_model(self, name: str) -> None:
        self._model = name
        self.list_models()  # refresh the context window for the new model

    def list_models(self) -> list[dict[str, Any]]:
        response = self._call("GET", "/models", _read_capped)
        try:
            models = response.json().get("data", [])
        except (ValueError, AttributeError) as exc:
            raise ModelError(f"the server at {self.base_url} sent an unreadable model list") from exc
        listed = models if isinstance(models, list) else []
        models = [entry for entry in listed if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
        self._listed = True
        entry = next((entry for entry in models if self._model in (None, entry["id"])), {})
        reported = entry.get("max_model_len")
        valid = isinstance(reported, int) and not isinstance(reported, bool) and reported > 0
        self.context_window = reported if valid else self._configured_window
        return models

    def _call(self, method: str, path: str, read: Callable[[httpx.Response, Watchdog], T], **kwargs: Any) -> T:
        """One logical request: attempts until one succeeds or the call's budget says stop. `read` consumes a
        2xx response and raises RetryableError when its attempt failed in a way worth another."""
        budget = CallBudget(self.timeouts)
        while True:
            watchdog = Watchdog(budget.deadline)
            try:
                response = self._send(method, path, watchdog, **kwargs)
                try:
                    return read(response, watchdog)
                finally:
                    response.close()
            except RetryableError as exc:
                budget.wait_before_retry(exc)
            finally:
                watchdog.stop()

    def _send(self, method: str, path: str, watchdog: Watchdog, **kwargs: Any) -> httpx.Response:
        """One attempt up to the response headers; an error status becomes the matching ModelError."""
        url = self.base_url + path
        request = self._http.build_request(method, url, extensions={"trace": watchdog.trace}, **kwargs)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, watchdog, shown=False) from exc
        watchdog.watch(response.extensions.get("network_stream"))
        if response.status_code < 400:
            return response
        try:
            detail = _read_capped(response, watchdog)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, watchdog, shown=False) from exc
        finally:
            response.close()
        retry_after = response.headers.get("retry-after")
        raise status_error(response.status_code, _error_text(detail), _error_code(detail), retry_after)

    def _transport_error(self, exc: httpx.TransportError, watchdog: Watchdog, shown: bool) -> ModelError:
        """What a failed connect or read means: a passed deadline, an unreachable server, or a broken stream
        (worth another attempt only while nothing of the reply was shown)."""
        if watchdog.expired:
            return timeout_error(watchdog.expired, self.timeouts, self.base_url)
        if isinstance(exc, httpx.ConnectTimeout):
            limit = self.timeouts.connect_timeout
            return RetryableError(
                f"cannot reach the model server at {self.base_url}: no connection within {limit:g} s "
                f"({setting_hint('connect_timeout')})"
            )
        if isinstance(exc, httpx.ConnectError):
            return RetryableError(f"cannot reach the model server at {self.base_url} ({exc})")
        if isinstance(exc, httpx.TimeoutException):  # the per-read backstop, should the watchdog miss a socket
            return timeout_error(watchdog.bound, self.timeouts, self.base_url)
        if shown:
            return ModelError(f"the connection to {self.base_url} broke mid-reply ({exc})")
        return RetryableError(f"the connection to {self.base_url} broke before the reply ({exc})")

    def chat(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]],
        sampling: dict[str, Any],
        on_text: Callable[[str], None] = lambda _: None,
        on_reasoning: Callable[[str], None] = lambda _: None,
    ) -> Completion:
        """Stream one completion, calling `on_text`/`on_reasoning` with each delta as it arrives."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_wire(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            **sampling,
        }
        if tools:
            body["tools"] = tools

        def read(response: httpx.Response, watchdog: Watchdog) -> Completion:
            return self._read_reply(response, watchdog, on_text, on_reasoning)

        return self._call("POST", "/chat/completions", read, json=body)

    def _read_reply(
        self,
        response: httpx.Response,
        watchdog: Watchdog,
        on_text: Callable[[str], None],
        on_reasoning: Callable[[str], None],
    ) -> Completion:
        """Assemble one streamed reply; only content, reasoning and tool-call deltas count as progress. A stream
        that ends without finish_reason and without [DONE] was cut: its partial tool calls are never returned."""
        text, reasoning = [], []
        calls: dict[int, dict[str, str]] = {}
        finish_reason, usage = None, {}
        chunks = _Chunks(response)
        try:
            for chunk in chunks:
                if not isinstance(chunk, dict):
                    raise ModelError(f"the server sent a malformed stream chunk: {str(chunk)[:120]!r}")
                if error := chunk.get("error"):
                    raise _stream_error(error)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    delta = choice.get("delta", {})
                    if piece := delta.get("reasoning_content") or delta.get("reasoning"):
                        reasoning.append(piece)
                        on_reasoning(piece)
                        watchdog.progress(self.timeouts.idle_timeout)
                    if piece := delta.get("content"):
                        text.append(piece)
                        on_text(piece)
                        watchdog.progress(self.timeouts.idle_timeout)
                    for fragment in delta.get("tool_calls") or []:
                        _merge_call_fragment(calls, fragment)
                        if _fragment_adds(fragment):
                            watchdog.progress(self.timeouts.idle_timeout)
                    finish_reason = choice.get("finish_reason") or finish_reason
        except httpx.TransportError as exc:
            raise self._transport_error(exc, watchdog, shown=bool(text or reasoning)) from exc
        if watchdog.expired:  # the shutdown may read as a clean end of the body
            raise timeout_error(watchdog.expired, self.timeouts, self.base_url)
        if finish_reason is None and not chunks.done:
            cut = f"the stream from {self.base_url} ended without a finish_reason or [DONE]"
            if text or reasoning:
                raise ModelError(f"{cut}: the partial reply was dropped and none of its tool calls ran")
            raise RetryableError(cut)
        content = "".join(text)
        tool_calls = [_finish_call(calls[i], i) for i in sorted(calls)]
        if not tool_calls:  # a server without a tool-call parser leaves the calls in the text
            content, tool_calls = extract_text_tool_calls(content)
        message: Message = {"role": "assistant", "content": content or None}
        if reasoning:
            message["reasoning"] = "".join(reasoning)
        if tool_calls:
            message["tool_calls"] = tool_calls
        return Completion(message=message, finish_reason=finish_reason, usage=usage)

    def close(self) -> None:
        self._http.close()


class _Chunks:
    """The stream's chunks; once they run out, `done` tells whether the server ended them with [DONE]."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.done = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.done = yield from _sse_chunks(self._response)


def _read_capped(response: httpx.Response, watchdog: Watchdog) -> httpx.Response:
    """A copy of the response with its body, at most MAX_BODY_BYTES of it (an error or a model list)."""
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            break
    return httpx.Response(response.status_code, content=bytes(body[:MAX_BODY_BYTES]))


def _fragment_adds(fragment: Any) -> bool:
    """Whether a tool-call fragment carries anything (an empty one every second is no progress)."""
    function = fragment.get("function") if isinstance(fragment, dict) else None
    return isinstance(function, dict) and bool(function.get("name") or function.get("arguments"))


def _stream_error(error: Any) -> ModelError:
    """An error the server put inside a 200 stream (vLLM does when the engine fails mid-request)."""
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    return context_overflow(message, code) or ModelError(f"the model server reported an error mid-stream: {message}")


def _lines(response: httpx.Response) -> Iterator[str]:
    """The body's lines, none longer than MAX_LINE_BYTES: a server that never ends a line cannot fill memory."""
    buffer = bytearray()
    for piece in response.iter_bytes():
        if b"\n" in piece:  # only a new piece can end a line: the buffer is never searched twice
            *lines, rest = (buffer + piece).split(b"\n")
            for line in lines:
                yield line.rstrip(b"\r").decode("utf-8", errors="replace")
            buffer = rest
        else:
            buffer += piece
        if len(buffer) > MAX_LINE_BYTES:
            raise ModelError(f"the server sent a stream line longer than {MAX_LINE_BYTES >> 20} MiB")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


def _sse_chunks(response: httpx.Response) -> Generator[dict[str, Any], None, bool]:
    """The stream's JSON chunks; returns True when the server ended it with [DONE], False when it just stopped."""
    for line in _lines(response):
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return True
        try:
            yield json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ModelError(f"the server sent a malformed stream chunk: {payload[:120]!r}") from exc
    return False


def _merge_call_fragment(calls: dict[int, dict[str, str]], fragment: dict[str, Any]) -> None:
    slot = calls.setdefault(fragment.get("index", len(calls)), {"id": "", "name": "", "arguments": ""})
    slot["id"] = fragment.get("id") or slot["id"]
    function = fragment.get("function") or {}
    slot["name"] += function.get("name") or ""
    slot["arguments"] += function.get("arguments") or ""


def _finish_call(slot: dict[str, str], index: int) -> ToolCall:
    return {
        "id": slot["id"] or f"call_{index}",
        "type": "function",
        "function": {"name": slot["name"], "arguments": decode_arguments(slot["arguments"])},
    }


def _error_text(response: httpx.Response) -> str:
    try:
        detail = response.json()
    except ValueError:
        return response.text[:300]
    error = detail.get("error", detail) if isinstance(detail, dict) else detail
    return str(error.get("message", error) if isinstance(error, dict) else error)[:300]


def _error_code(response: httpx.Response) -> Any:
    """The machine-readable code of an error body (OpenAI's "context_length_exceeded"), when it has one."""
    try:
        detail = response.json()
    except ValueError:
        return None
    error = detail.get("error", detail) if isinstance(detail, dict) else None
    return error.get("code") if isinstance(error, dict) else None
