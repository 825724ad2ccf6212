"""Conversions between sii's training sample (LIMI/OpenAI `{"messages", "tools"}`, tool-call arguments as JSON
objects) and the shapes other trainers read: one row of Parquet, one LLaMA-Factory ShareGPT record.

Parquet keeps `messages` and `tools` as JSON text columns. Arrow's nested types would merge every tool's
argument keys into one struct (absent keys come back as nulls, and one key holding different types fails),
so only text round-trips losslessly; `datasets` loads the columns as strings (`json.loads` them).

ShareGPT (LLaMA-Factory, `formatting: sharegpt` with `function_call`/`observation` tags) cannot carry:
tool-call ids (regenerated as `call_<turn>_<n>` on import), the `name` of tool messages, an empty system
message, reasoning that contains `</think>`, an answer that itself starts with `<think>`, and the difference
between `null` and empty content. Reasoning is a
`<think>…</think>\\n` prefix of the assistant turn (LLaMA-Factory's thought words). Text an assistant wrote
beside tool calls has no place of its own in a `function_call` turn (its value must be JSON), so it joins
the reasoning inside `<think>` and comes back as reasoning: what the model said before calling stays in
the training data, as thought.
"""

from __future__ import annotations

import json
import re
from typing import Any

from recordings.schema import Message, ToolCall

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
THINK = re.compile(r"<think>(.*?)</think>\n", re.DOTALL)


def canonical_json(sample: dict[str, Any]) -> str:
    """The text a sample's hash is taken of: independent of key order and of how the file escaped text."""
    return json.dumps(
        {"messages": sample["messages"], "tools": sample["tools"]},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def parse_arguments(arguments: Any) -> Any:
    """Arguments as sii records them: a JSON string that holds an object becomes that object; anything else
    (unparsable text the model sent) stays as it is."""
    if not isinstance(arguments, str):
        return arguments
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments
    return parsed if isinstance(parsed, dict) else arguments


def normalize_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """OpenAI messages from a file, with string arguments parsed; everything else is left exactly as read."""
    normalized = []
    for message in messages:
        if message.get("tool_calls"):
            calls = [
                {**call, "function": {**call["function"], "arguments": parse_arguments(call["function"]["arguments"])}}
                for call in message["tool_calls"]
            ]
            message = {**message, "tool_calls": calls}
        normalized.append(message)
    return normalized  # type: ignore[return-value]


def to_parquet_row(sample: dict[str, Any]) -> dict[str, str]:
    return {
        "messages": json.dumps(sample["messages"], ensure_ascii=False),
        "tools": json.dumps(sample["tools"], ensure_ascii=False),
    }


def from_parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    messages, tools = row["messages"], row.get("tools")
    return {
        "messages": normalize_messages(json.loads(messages) if isinstance(messages, str) else messages),
        "tools": (json.loads(tools) if isinstance(tools, str) else tools) or [],
    }


def _think(*parts: str | None) -> str:
    text = "\n\n".join(part for part in parts if part)
    return f"<think>{text}</think>\n" if text else ""


def _split_think(value: str) -> tuple[str | None, str]:
    match = THINK.match(value)
    return (match.group(1), value[match.end() :]) if match else (None, value)


def to_sharegpt(sample: dict[str, Any]) -> dict[str, Any]:
    """One LLaMA-Factory ShareGPT record. A leading system message goes to `system`; consecutive tool results
    (one batch of parallel calls) make one `observation`, a JSON list of the results when there are several."""
    messages: list[Message] = sample["messages"]
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    turns: list[dict[str, str]] = []
    results: list[str] = []
    for message in messages:
        if message["role"] != "tool" and results:
            turns.append(_observation(results))
            results = []
        if message["role"] == "tool":
            results.append(message["content"] or "")
        elif message["role"] == "assistant" and message.get("tool_calls"):
            calls = [
                {"name": c["function"]["name"], "arguments": parse_arguments(c["function"]["arguments"])}
                for c in message["tool_calls"]
            ]
            value = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            turns.append(
                {"from": "function_call", "value": _think(message.get("reasoning"), message["content"]) + value}
            )
        elif message["role"] == "assistant":
            turns.append({"from": "gpt", "value": _think(message.get("reasoning")) + (message["content"] or "")})
        else:
            turns.append(
                {"from": "human" if message["role"] == "user" else "system", "value": message["content"] or ""}
            )
    if results:
        turns.append(_observation(results))
    record: dict[str, Any] = {"conversations": turns, "tools": json.dumps(sample["tools"], ensure_ascii=False)}
    if system:  # LLaMA-Factory reads "" as "no system prompt": the template's default
        record["system"] = system
    return record


def _observation(results: list[str]) -> dict[str, str]:
    return {
        "from": "observation",
        "value": results[0] if len(results) == 1 else json.dumps(results, ensure_ascii=False),
    }


def from_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """Back to a sii sample: tool-call ids are generated, results are matched to the calls in order."""
    messages: list[Message] = []
    if record.get("system"):
        messages.append({"role": "system", "content": record["system"]})
    pending: list[str] = []  # ids of the last function_call turn, which its observation answers
    for index, turn in enumerate(record["conversations"]):
        kind, value = turn["from"], turn["value"]
        if kind == "function_call":
            reasoning, text = _split_think(value)
            payload = json.loads(text)
            calls: list[ToolCall] = [
                {
                    "id": f"call_{index}_{n}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": parse_arguments(call.get("arguments", {}))},
                }
                for n, call in enumerate(payload if isinstance(payload, list) else [payload])
            ]
            messages.append(_assistant(None, reasoning, calls))
            pending = [call["id"] for call in calls]
        elif kind in ("observation", "tool"):
            for n, content in enumerate(_results(value, len(pending))):
                call_id = pending[n] if n < len(pending) else f"call_{index}_{n}"
                messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
            pending = []
        elif SHAREGPT_ROLES.get(kind) == "assistant":
            reasoning, text = _split_think(value)
            messages.append(_assistant(text, reasoning, None))
        elif kind in SHAREGPT_ROLES:
            messages.append({"role": SHAREGPT_ROLES[kind], "content": value})  # type: ignore[typeddict-item]
        else:
            raise ValueError(f"unknown ShareGPT turn {kind!r}")
    tools = record.get("tools") or []
    return {"messages": messages, "tools": json.loads(tools) if isinstance(tools, str) else tools}


def _assistant(content: str | None, reasoning: str | None, calls: list[ToolCall] | None) -> Message:
    message: Message = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


def _results(value: str, calls: int) -> list[str]:
    """The results of a batch of `calls` parallel calls, which export wrote as one JSON list."""
    if calls > 1:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    return [value]
