"""OpenAI-compatible chat client over httpx: streaming SSE, tool-call deltas assembled into whole calls. Every
reply is normalised here (`_ReplyBuilder`) before the agent sees it, whatever the server or model sent; every
wait is bounded (sii.transport)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import httpx

from recordings.schema import Message, ToolCall, json_type
from recordings.strictjson import parse_json
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
TOKEN_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
MAX_PROBLEMS = 10  # named per reply; more would only repeat them
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Completion:
    """One assistant reply, assembled from the stream and normalised. `problems`: what was malformed in it
    (and dropped or repaired), for the agent to report; empty for a well-formed reply."""

    message: Message
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class UnreadableModelList(ModelError):
    """The server answered /v1/models with something that is no model list."""


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
    """Parse the model's argument text into an object (also when it encoded the object twice, as a JSON string);
    text that holds no object is kept as it is, and the tool dispatcher answers it with a precise error."""
    if not raw.strip():
        return {}
    try:
        parsed = parse_json(raw)
        if isinstance(parsed, str):
            parsed = parse_json(parsed)
    except ValueError:
        return raw
    return parsed if isinstance(parsed, dict) else raw


def _undecodable_body_is_a_model_error(method: Callable[P, T]) -> Callable[P, T]:
    """A body whose Content-Encoding (gzip, deflate...) does not decode is the server's failure: a ModelError
    that says so, wherever in the request it surfaces (httpx raises DecodingError, no TransportError)."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except httpx.DecodingError as exc:
            raise ModelError(f"the model server sent a body that does not decode ({exc})") from exc

    return guarded


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
            try:
                models = self.list_models()
            except UnreadableModelList:
                if self._model is None:
                    raise
                self._listed, models = True, []  # a named model is served anyway: only its window is unknown
            if self._model is None:
                if not models:
                    raise ModelError(f"the server at {self.base_url} serves no models")
                self._model = models[0]["id"]
        return self._model

    def use_model(self, name: str) -> None:
        self._model = name
        self.list_models()  # refresh the context window for the new model

    @_undecodable_body_is_a_model_error
    def list_models(self) -> list[dict[str, Any]]:
        """The served models, each with a string `id`; entries without one are left out."""
        response = self._call("GET", "/models", _read_capped)
        try:
            listing = parse_json(response.text)
        except ValueError as exc:
            raise UnreadableModelList(
                f"the model list from {self.base_url} is not JSON: {response.text[:120]!r}"
            ) from exc
        data = listing.get("data") if isinstance(listing, dict) else None
        entries = data if isinstance(data, list) else []
        models = [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
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

    @_undecodable_body_is_a_model_error
    def chat(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]],
        sampling: dict[str, Any],
        on_text: Callable[[str], None] = lambda _: None,
        on_reasoning: Callable[[str], None] = lambda _: None,
        on_tool: Callable[[str, int], None] = lambda name, characters: None,
    ) -> Completion:
        """Stream one completion, calling `on_text`/`on_reasoning` with each delta as it arrives, and `on_tool`
        with a call's name and its argument length so far as it is written."""
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
            reply = _ReplyBuilder(on_text, on_reasoning)
            reply.on_tool = on_tool
            return self._read_reply(response, watchdog, reply, tools)

        return self._call("POST", "/chat/completions", read, json=body)

    def _read_reply(
        self, response: httpx.Response, watchdog: Watchdog, reply: _ReplyBuilder, tools: list[dict[str, Any]]
    ) -> Completion:
        """Assemble one streamed reply; only content, reasoning and tool-call deltas count as progress. A stream
        that ends without finish_reason and without [DONE] was cut: its partial tool calls are never returned."""
        reply.on_progress = lambda: watchdog.progress(self.timeouts.idle_timeout)
        chunks = _Chunks(response)
        try:
            for payload in chunks:
                reply.feed(payload)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, watchdog, shown=reply.shown) from exc
        if watchdog.expired:  # the shutdown may read as a clean end of the body
            raise timeout_error(watchdog.expired, self.timeouts, self.base_url)
        if reply.finish_reason is None and not chunks.done and chunks.streamed:
            cut = f"the stream from {self.base_url} ended without a finish_reason or [DONE]"
            if reply.shown:
                raise ModelError(f"{cut}: the partial reply was dropped and none of its tool calls ran")
            raise RetryableError(cut)
        return reply.completion(tools)

    def close(self) -> None:
        self._http.close()


class _Chunks:
    """The data of the stream's events; once they run out, `done` tells whether the server ended them with
    [DONE], and `streamed` whether the body was an event stream at all (not one whole JSON completion)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.done = False
        self.streamed = False

    def __iter__(self) -> Iterator[str]:
        self.done, self.streamed = yield from _sse_chunks(self._response)


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


def _sse_chunks(response: httpx.Response) -> Generator[str, None, tuple[bool, bool]]:
    """The data of each server-sent event, up to `[DONE]`; returns (ended with [DONE], was an event stream). A
    body that is no event stream at all (a server that ignored `stream: true` and sent one JSON completion)
    comes out whole, as one item."""
    data: list[str] = []
    other: list[str] = []
    streamed = False
    for line in _lines(response):
        if line.startswith("data:"):
            streamed = True
            if (payload := line[5:].strip()) == "[DONE]":
                if data:
                    yield "\n".join(data)
                return True, True
            data.append(payload)
        elif not line.strip():  # a blank line ends an event
            if data:
                yield "\n".join(data)
            data = []
        elif not streamed and not line.startswith((":", "event:", "id:", "retry:")):
            other.append(line)
    if data:
        yield "\n".join(data)
    if not streamed and "".join(other).strip():
        yield "\n".join(other)
    return False, streamed


@dataclass
class _CallSlot:
    """One tool call as its fragments arrive: the id, the name and the raw argument text so far."""

    id: str = ""
    name: str = ""
    arguments: str = ""


class _ReplyBuilder:
    """Turns whatever the server sent (stream chunks or one whole completion) into a well-typed reply, the one
    place where replies are normalised. Every field is checked: text that is not text, tool calls with ids,
    names or arguments of the wrong type, usage that is no counts, finish reasons that are no strings. What
    can be used is kept (the raw argument text, a number's digits), what cannot is dropped, and each problem
    is named in `Completion.problems`, so the agent can say what happened and go on. Only a reply with no
    readable chunk at all, or an error the server reports inside it, is a ModelError."""

    def __init__(self, on_text: Callable[[str], None], on_reasoning: Callable[[str], None]) -> None:
        self._on_text = on_text
        self._on_reasoning = on_reasoning
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _CallSlot] = {}
        self._last_call: int | None = None
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] = {}
        self._problems: dict[str, None] = {}  # an ordered set
        self._readable = 0
        self._first_unreadable = ""
        self.on_progress: Callable[[], None] = lambda: None  # a delta that carries something arrived
        self.on_tool: Callable[[str, int], None] = lambda name, characters: None  # a call is being written

    @property
    def shown(self) -> bool:
        """Whether any of the reply reached the person (text or reasoning), so it cannot be silently retried."""
        return bool(self._text or self._reasoning)

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    def _problem(self, text: str) -> None:
        if len(self._problems) < MAX_PROBLEMS:
            self._problems[text] = None

    def feed(self, payload: str) -> None:
        """One event's data. An event of several JSON lines (a server that left out the blank lines between
        its events) is read line by line."""
        try:
            chunk = parse_json(payload)
        except ValueError as exc:
            lines = payload.splitlines()
            if len(lines) > 1:
                for line in lines:
                    self.feed(line)
                return
            self._first_unreadable = self._first_unreadable or payload
            self._problem(f"a chunk that is not JSON ({str(exc)[:60]}) was skipped: {payload[:80]!r}")
            return
        if not isinstance(chunk, dict):
            self._problem(f"a chunk that is a JSON {json_type(chunk)}, not an object, was skipped")
            return
        self._readable += 1
        self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> None:
        choices = chunk.get("choices")
        error = chunk.get("error")
        if error or (choices is None and (chunk.get("object") == "error" or "error" in chunk)):
            raise _stream_error(error or chunk)  # e.g. vLLM's engine failing mid-request
        if "usage" in chunk:
            self._read_usage(chunk["usage"])
        if choices is None:
            return
        if not isinstance(choices, list):
            self._problem(f"`choices` was a JSON {json_type(choices)}, not an array")
            return
        for choice in choices:
            if not isinstance(choice, dict):
                self._problem(f"a choice that is a JSON {json_type(choice)} was skipped")
            elif choice.get("index", 0) != 0:
                self._problem("a choice other than the first was ignored")
            else:
                self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        whole = "delta" not in choice and "message" in choice  # a non-streamed completion
        delta = choice.get("message") if whole else choice.get("delta")
        if isinstance(delta, dict):
            self._delta(delta, whole)
        elif delta is not None:
            self._problem(f"a {'message' if whole else 'delta'} that is a JSON {json_type(delta)} was skipped")
        finish = choice.get("finish_reason")
        if isinstance(finish, str):
            self._finish_reason = finish
        elif finish is not None:
            self._problem(f"`finish_reason` was a JSON {json_type(finish)}, not a string")

    def _delta(self, delta: dict[str, Any], whole: bool) -> None:
        reasoning = delta.get("reasoning_content")
        if piece := self._read_text(delta.get("reasoning") if reasoning is None else reasoning, "reasoning"):
            self._reasoning.append(piece)
            self._on_reasoning(piece)
            self.on_progress()
        if piece := self._read_text(delta.get("content"), "content"):
            self._text.append(piece)
            self._on_text(piece)
            self.on_progress()
        fragments = delta.get("tool_calls")
        if fragments is None:
            return
        if isinstance(fragments, dict):
            fragments = [fragments]
        if not isinstance(fragments, list):
            self._problem(f"`tool_calls` was a JSON {json_type(fragments)}, not an array")
            return
        for position, fragment in enumerate(fragments):
            if isinstance(fragment, dict):
                self._fragment(fragment, position if whole else None)
                if _fragment_adds(fragment):
                    self.on_progress()
                    if self._last_call is not None:
                        slot = self._calls[self._last_call]
                        self.on_tool(slot.name, len(slot.arguments))
            else:
                self._problem(f"a tool call that is a JSON {json_type(fragment)} was skipped")

    def _read_text(self, value: Any, field: str) -> str:
        """Text as sent; content parts (`[{"type": "text", "text": ...}]`) joined; a number or boolean as its
        JSON text. Anything else is dropped."""
        if value is None or isinstance(value, str):
            return value or ""
        if isinstance(value, bool | int | float):
            self._problem(f"`{field}` was a JSON {json_type(value)}; its text was kept")
            return json.dumps(value)
        if isinstance(value, list):
            parts = [part.get("text") if isinstance(part, dict) else part for part in value]
            texts = [part for part in parts if isinstance(part, str)]
            if len(texts) < len(parts):
                self._problem(f"`{field}` parts without text were dropped")
            return "".join(texts)
        self._problem(f"`{field}` was a JSON {json_type(value)}, not text, and was dropped")
        return ""

    def _fragment(self, fragment: dict[str, Any], position: int | None) -> None:
        index = self._slot_index(fragment, position)
        slot = self._calls.setdefault(index, _CallSlot())
        self._last_call = index
        call_id = fragment.get("id")
        if isinstance(call_id, int) and not isinstance(call_id, bool):
            call_id = str(call_id)
        if isinstance(call_id, str):
            slot.id = call_id or slot.id
        elif call_id is not None:
            self._problem(f"a tool call id that is a JSON {json_type(call_id)} was replaced")
        function = fragment.get("function")
        if not isinstance(function, dict):
            if function is not None:
                self._problem(f"a tool call's `function` that is a JSON {json_type(function)} was skipped")
            return
        name = function.get("name")
        if isinstance(name, str):
            slot.name += name
        elif name is not None:
            self._problem(f"a tool name that is a JSON {json_type(name)} was dropped")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot.arguments += arguments
        elif arguments is not None:  # an object (some servers send one), or a wrong type the tool will report
            slot.arguments += json.dumps(arguments, ensure_ascii=False)

    def _slot_index(self, fragment: dict[str, Any], position: int | None) -> int:
        """Which call a fragment belongs to: its `index`; else its place in a whole message; else the call
        with its id, or a new call if it starts one (an id or a name), or the call being streamed."""
        index = fragment.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        if position is not None:
            return position
        call_id = fragment.get("id")
        for known, slot in self._calls.items():
            if call_id and slot.id == call_id:
                return known
        function = fragment.get("function")
        starts = bool(call_id) or (isinstance(function, dict) and bool(function.get("name")))
        if self._last_call is None or starts:
            return max(self._calls, default=-1) + 1
        return self._last_call

    def _read_usage(self, usage: Any) -> None:
        """Token counts, the only part of `usage` sii reads: non-negative integers, or left out."""
        if usage is None:
            return
        if not isinstance(usage, dict):
            self._problem(f"`usage` was a JSON {json_type(usage)}, not an object, and was ignored")
            return
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self._usage[key] = value
            elif key in TOKEN_COUNTS:
                self._problem(f"`usage.{key}` was not a token count and was ignored")

    def completion(self, tools: list[dict[str, Any]]) -> Completion:
        if not self._readable:
            if self._first_unreadable:
                shown = self._first_unreadable[:120]
                raise ModelError(f"the model server's reply is not an OpenAI chat completion: {shown!r}")
            raise ModelError("the model server sent an empty reply")
        content = "".join(self._text)
        raw_calls: list[tuple[str, str, Any]] = [(s.id, s.name, s.arguments) for _, s in sorted(self._calls.items())]
        if not raw_calls:  # a server without a tool-call parser leaves the calls in the text
            content, text_calls = extract_text_tool_calls(content, _parameters_by_tool(tools))
            raw_calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in text_calls]
        message: Message = {"role": "assistant", "content": content or None}
        if self._reasoning:
            message["reasoning"] = "".join(self._reasoning)
        if raw_calls:
            message["tool_calls"] = self._tool_calls(raw_calls)
        return Completion(message, self._finish_reason, self._usage, list(self._problems))

    def _tool_calls(self, raw_calls: list[tuple[str, str, Any]]) -> list[ToolCall]:
        """Whole calls with unique ids (a missing one is made up, a repeated one made unique), arguments as an
        object where they hold one, else as the raw text the model wrote (the tool answers it with an error)."""
        calls: list[ToolCall] = []
        seen: set[str] = set()
        for position, (call_id, name, arguments) in enumerate(raw_calls):
            unique = call_id or f"call_{position}"
            if unique in seen:
                self._problem(f"tool call id {call_id[:40]!r} was used twice; the second was renamed")
            suffix = 1
            while unique in seen:
                unique, suffix = f"{call_id or 'call'}_{position}_{suffix}", suffix + 1
            seen.add(unique)
            if not isinstance(arguments, str | dict):  # text calls: a list or number the model wrote
                arguments = json.dumps(arguments, ensure_ascii=False)
            decoded = decode_arguments(arguments) if isinstance(arguments, str) else arguments
            calls.append({"id": unique, "type": "function", "function": {"name": name, "arguments": decoded}})
        return calls


def _parameters_by_tool(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Each offered tool's parameter schema by name, so text-format calls are typed as the tool declares."""
    functions = (tool.get("function") for tool in tools if isinstance(tool, dict))
    return {f["name"]: f.get("parameters") for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)}


def _error_message(detail: dict[str, Any]) -> str:
    error = detail.get("error", detail)
    return str(error.get("message", error) if isinstance(error, dict) else error)[:300]


def _error_text(response: httpx.Response) -> str:
    try:
        detail = response.json()
    except ValueError:
        return response.text[:300]
    return _error_message(detail) if isinstance(detail, dict) else str(detail)[:300]


def _error_code(response: httpx.Response) -> Any:
    """The machine-readable code of an error body (OpenAI's "context_length_exceeded"), when it has one."""
    try:
        detail = response.json()
    except ValueError:
        return None
    error = detail.get("error", detail) if isinstance(detail, dict) else None
    return error.get("code") if isinstance(error, dict) else None
