"""Claude Code project transcripts (`~/.claude/projects/<project>/<session>.jsonl`): one JSON object a line,
`type` user or assistant with an Anthropic `message` (content a string or blocks: `text`, `thinking`,
`tool_use`, `tool_result`), plus records that are not conversation (summary, system, file-history-snapshot).
Claude Code writes one line per content block of a reply, all with the same `message.id`: they are joined
back into one assistant message. Sidechain lines (sub-agents) and meta lines (injected by the CLI, not typed)
are left out; a `compact_boundary` system line starts a new context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recordings.importers.common import ImportedSession, json_lines, parse_iso, text_of
from recordings.schema import Message
from recordings.strictjson import object_field


def read_claude(path: Path) -> ImportedSession:
    records = json_lines(path)
    contexts: list[list[Message]] = [[]]
    model, last_reply = "unknown", None
    first = next((r for r in records if r.get("type") in ("user", "assistant")), None)
    if first is None:
        raise ValueError(f"{path}: no Claude Code user or assistant lines")
    for record in records:
        kind = record.get("type")
        if kind == "system" and record.get("subtype") == "compact_boundary" and contexts[-1]:
            contexts.append([])
            last_reply = None
            continue
        message = record.get("message")
        if kind not in ("user", "assistant") or not isinstance(message, dict) or record.get("isSidechain"):
            continue
        if kind == "assistant":
            model = str(message.get("model") or model)
            reply_id = message.get("id") or record.get("uuid")
            if last_reply is not None and reply_id == last_reply[0]:
                _extend(last_reply[1], message.get("content"))
                continue
            reply: Message = {"role": "assistant", "content": ""}
            _extend(reply, message.get("content"))
            contexts[-1].append(reply)
            last_reply = (reply_id, reply)
        elif not record.get("isMeta"):
            contexts[-1] += _user(message.get("content"))
            last_reply = None
    for context in contexts:
        for message in context:
            if message["role"] == "assistant" and message["content"] == "" and message.get("tool_calls"):
                message["content"] = None
    return ImportedSession(
        source="claude",
        contexts=[c for c in contexts if c],
        model=model,
        started_at=parse_iso(first.get("timestamp")),
        workspace=str(first.get("cwd") or ""),
        source_id=str(first["sessionId"]) if first.get("sessionId") else None,
    )


def _extend(reply: Message, content: Any) -> None:
    """Add one line's content blocks to the assistant message they belong to."""
    blocks = content if isinstance(content, list) else [{"type": "text", "text": text_of(content)}]
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            reply["content"] = (reply["content"] or "") + text_of(block.get("text"))
        elif block.get("type") == "thinking" and block.get("thinking"):
            reply["reasoning"] = "\n\n".join(filter(None, [reply.get("reasoning"), text_of(block["thinking"])]))
        elif block.get("type") == "tool_use":
            arguments = object_field(block, "input")
            call = {
                "id": str(block.get("id", "")),
                "type": "function",
                "function": {"name": str(block.get("name", "")), "arguments": arguments},
            }
            reply.setdefault("tool_calls", []).append(call)  # type: ignore[arg-type]


def _user(content: Any) -> list[Message]:
    """A user line: its tool results (each a tool message; an error's text is what the model was shown) and
    its text blocks (joined into one user message), in order."""
    if not isinstance(content, list):
        return [{"role": "user", "content": text_of(content)}]
    messages: list[Message] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            call_id = str(block.get("tool_use_id", ""))
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text_of(block.get("content"))})
        elif block.get("type") == "text" and messages and messages[-1]["role"] == "user":
            messages[-1]["content"] = f"{messages[-1]['content']}\n{text_of(block.get('text'))}"
        elif block.get("type") == "text":
            messages.append({"role": "user", "content": text_of(block.get("text"))})
    return messages


def looks_like(records: list[dict[str, Any]]) -> bool:
    return any(
        r.get("type") in ("user", "assistant") and isinstance(r.get("message"), dict) and "role" in r["message"]
        for r in records
    )
