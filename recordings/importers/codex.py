"""Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`, codex-rs `RolloutLine`): one JSON object
a line, `{"timestamp", "type", "payload"}`. `session_meta` says where and by which version; `turn_context`
names the model; `response_item` payloads are the conversation: `message` (role user/assistant/developer,
content `input_text`/`output_text` items), `function_call` (name, JSON-text `arguments`, `call_id`) and
`custom_tool_call` (free-text `input`), their `*_output` (`output`: text, or an object with `content`),
`local_shell_call`, and `reasoning` (`summary` texts, `content` when not encrypted). A `compacted` line
replaces the history with its summary: a new context starts. (Rollouts from before the `payload` wrapper are
not read: their lines are skipped.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recordings.formats import parse_arguments
from recordings.importers.common import ImportedSession, json_lines, parse_iso, text_of
from recordings.schema import Message
from recordings.strictjson import object_field

ROLES = {"user": "user", "assistant": "assistant", "developer": "system", "system": "system"}


def read_codex(path: Path) -> ImportedSession:
    records = json_lines(path)
    session = ImportedSession(source="codex", contexts=[[]])
    reasoning: list[str] = []  # reasoning items wait for the assistant message or call that follows them
    for record in records:
        kind, payload = record.get("type"), record.get("payload")
        if not isinstance(payload, dict):
            continue
        if kind == "session_meta":
            session.workspace = str(payload.get("cwd") or session.workspace)
            session.source_id = str(payload.get("id") or "") or session.source_id
            session.started_at = parse_iso(payload.get("timestamp") or record.get("timestamp")) or session.started_at
        elif kind == "turn_context" and payload.get("model"):
            session.model = str(payload["model"])
        elif kind == "compacted" and session.contexts[-1]:
            session.contexts.append([{"role": "user", "content": text_of(payload.get("message"))}])
        elif kind == "response_item":
            _item(payload, session.contexts[-1], reasoning)
    return session


def _item(item: dict[str, Any], messages: list[Message], reasoning: list[str]) -> None:
    kind = item.get("type")
    if kind == "reasoning":
        texts = [text_of(s.get("text")) for s in item.get("summary") or [] if isinstance(s, dict)]
        texts += [text_of(c.get("text")) for c in item.get("content") or [] if isinstance(c, dict)]
        reasoning += [t for t in texts if t]
    elif kind == "message" and item.get("role") in ROLES:
        role = ROLES[item["role"]]
        text = text_of(item.get("content"))
        if role == "assistant":
            _assistant(messages, reasoning)["content"] = text
        else:
            messages.append({"role": role, "content": text})  # type: ignore[typeddict-item]
    elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
        if kind == "function_call":
            arguments = parse_arguments(item.get("arguments", "{}"))
        elif kind == "custom_tool_call":
            arguments = {"input": text_of(item.get("input"))}
        else:
            arguments = object_field(item, "action")
        name = str(item.get("name") or ("local_shell" if kind == "local_shell_call" else ""))
        call_id = str(item.get("call_id") or item.get("id") or "")
        message = _assistant(messages, reasoning, for_call=True)
        arguments = arguments if isinstance(arguments, dict) else {"input": arguments}
        message.setdefault("tool_calls", []).append(  # type: ignore[arg-type]
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        )
    elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
        output = item.get("output")
        if isinstance(output, dict):
            output = output.get("content", json.dumps(output, ensure_ascii=False))
        messages.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")), "content": text_of(output)})


def _assistant(messages: list[Message], reasoning: list[str], for_call: bool = False) -> Message:
    """The assistant message a reply item belongs to: a call joins the reply just before it (text, then calls,
    as the API streams them) unless a result came between; pending reasoning goes on it."""
    last = messages[-1] if messages else None
    if for_call and last is not None and last["role"] == "assistant":
        message = last
    else:
        message = {"role": "assistant", "content": None}
        messages.append(message)
    if reasoning:
        message["reasoning"] = "\n\n".join(filter(None, [message.get("reasoning"), *reasoning]))
        reasoning.clear()
    return message


def looks_like(records: list[dict[str, Any]]) -> bool:
    return any(r.get("type") in ("session_meta", "response_item", "turn_context") for r in records[:20])
