"""OpenHands (V0) event streams as `save_trajectory_path` or the UI's trajectory export writes them: a JSON list of
events (or `{"history": [...]}`, as evaluation outputs hold it), each an action (`action`, `args`, `source`) or
an observation (`observation`, `content`, `extras`, `cause`), serialized by
`openhands/events/serialization/event.py`. They are rebuilt into messages the way
`openhands/memory/conversation_memory.py` prompts the model: the system action gives the system message and
the tools; message actions are user or assistant text; an action with `tool_call_metadata` stands for the model
response it came from (`model_response.choices[0].message`: its text, tool calls and reasoning, once per
response however many calls it made), an observation with it for that call's result; the agent's `finish` is
its final text. Not reproduced: the framing OpenHands adds around some results when it prompts (exit-code
lines), recalled microagent knowledge, and condensation (the full history is kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recordings.importers.common import ImportedSession, load_json, openai_tool_calls, parse_iso, text_of
from recordings.schema import Message
from recordings.strictjson import object_field


def read_openhands(path: Path) -> ImportedSession:
    data = load_json(path)
    events = data.get("history") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise ValueError(f"{path}: not an OpenHands event stream")
    session = ImportedSession(source="openhands", contexts=[[]])
    messages = session.contexts[0]
    responses: set[str] = set()
    for event in events:
        if not isinstance(event, dict):
            continue
        if session.started_at is None:
            session.started_at = parse_iso(event.get("timestamp"))
        metadata = object_field(event, "tool_call_metadata") or None
        args = object_field(event, "args")
        action = event.get("action")
        if action == "system":
            messages.append({"role": "system", "content": text_of(args.get("content"))})
            session.tools = [t for t in args.get("tools") or [] if isinstance(t, dict)]
        elif action == "finish" and event.get("source") == "agent":
            messages.append({"role": "assistant", "content": _finish_text(args, metadata)})
        elif action == "message":
            content = text_of(args.get("content"))
            messages.append(
                {"role": "user", "content": content}
                if event.get("source") == "user"
                else {"role": "assistant", "content": content}
            )
        elif action is not None and metadata is not None:
            reply = _reply(metadata, responses)
            if reply is not None:
                messages.append(reply)
        elif "observation" in event and metadata is not None:
            content = text_of(event.get("content"))
            messages.append({"role": "tool", "tool_call_id": str(metadata.get("tool_call_id", "")), "content": content})
    return session


def _response_message(metadata: dict[str, Any] | None) -> dict[str, Any]:
    response = (metadata or {}).get("model_response")
    choices = response.get("choices") if isinstance(response, dict) else None
    message = (
        choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    )
    return message if isinstance(message, dict) else {}


def _reply(metadata: dict[str, Any], responses: set[str]) -> Message | None:
    """The assistant message of the model response behind a tool action; None if it was added already (the
    response made several calls, each its own action)."""
    response = object_field(metadata, "model_response")
    response_id = str(response.get("id") or metadata.get("tool_call_id"))
    if response_id in responses:
        return None
    responses.add(response_id)
    raw = _response_message(metadata)
    calls = openai_tool_calls(raw.get("tool_calls"))
    content = text_of(raw.get("content"))
    message: Message = {"role": "assistant", "content": content if content.strip() else None}
    if isinstance(raw.get("reasoning_content"), str) and raw["reasoning_content"]:
        message["reasoning"] = raw["reasoning_content"]
    if calls:
        message["tool_calls"] = calls
    return message


def _finish_text(args: dict[str, Any], metadata: dict[str, Any] | None) -> str:
    """What OpenHands shows the model for its finish: the action's thought, then the response's text when it
    differs."""
    thought = text_of(args.get("thought"))
    content = text_of(_response_message(metadata).get("content"))
    if not content or content == thought:
        return thought
    return f"{thought}\n{content}" if thought else content


def looks_like(data: Any) -> bool:
    events = data.get("history") if isinstance(data, dict) else data
    return (
        isinstance(events, list)
        and bool(events)
        and all(isinstance(e, dict) and ("action" in e or "observation" in e) for e in events[:20])
    )
