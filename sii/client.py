"""OpenAI-compatible chat client over httpx: streaming SSE, tool-call deltas assembled into whole calls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from recordings.schema import Message, ToolCall
from sii.textcalls import extract_text_tool_calls

RETRY_DELAYS_S = (0.5, 1.5)


class ModelError(Exception):
    """The model server is unreachable or refused the request; str() is a one-line explanation."""


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
    """Talks to one OpenAI-compatible server. Retries connection errors and 5xx before anything streamed."""

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(600, connect=5))
        self._model = model
        self.context_window: int | None = None

    @property
    def model(self) -> str:
        """The served model name; when none was given, the first one the server lists."""
        if self._model is None:
            models = self.list_models()
            if not models:
                raise ModelError(f"the server at {self.base_url} serves no models")
            self._model = models[0]["id"]
        return self._model

    def use_model(self, name: str) -> None:
        self._model = name
        self.list_models()  # refresh the context window for the new model

    def list_models(self) -> list[dict[str, Any]]:
        response = self._request("GET", "/models")
        models = response.json().get("data", [])
        for entry in models:
            if entry.get("id") == self._model or self._model is None:
                self.context_window = entry.get("max_model_len")
                break
        return models

    def _request(self, method: str, path: str, stream: bool = False, **kwargs: Any) -> httpx.Response:
        url = self.base_url + path
        for delay in (*RETRY_DELAYS_S, None):
            try:
                response = self._http.send(self._http.build_request(method, url, **kwargs), stream=True)
            except httpx.TransportError as exc:
                if delay is None:
                    raise ModelError(f"cannot reach the model server at {self.base_url} ({exc})") from exc
                time.sleep(delay)
                continue
            if response.status_code >= 500 and delay is not None:
                response.close()
                time.sleep(delay)
                continue
            break
        if response.status_code >= 400:
            response.read()
            raise ModelError(f"the model server answered {response.status_code}: {_error_text(response)}")
        if not stream:
            response.read()
        return response

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
        response = self._request("POST", "/chat/completions", stream=True, json=body)
        text, reasoning = [], []
        calls: dict[int, dict[str, str]] = {}
        finish_reason, usage = None, {}
        try:
            for chunk in _sse_chunks(response):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    delta = choice.get("delta", {})
                    if piece := delta.get("reasoning_content") or delta.get("reasoning"):
                        reasoning.append(piece)
                        on_reasoning(piece)
                    if piece := delta.get("content"):
                        text.append(piece)
                        on_text(piece)
                    for fragment in delta.get("tool_calls") or []:
                        _merge_call_fragment(calls, fragment)
                    finish_reason = choice.get("finish_reason") or finish_reason
        except httpx.TransportError as exc:
            raise ModelError(f"the connection to {self.base_url} broke mid-reply ({exc})") from exc
        finally:
            response.close()
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


def _sse_chunks(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            yield json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ModelError(f"the server sent a malformed stream chunk: {payload[:120]!r}") from exc


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
