"""mini-swe-agent trajectories (`*.traj.json`, `trajectory_format` "mini-swe-agent-1" and "-1.1"): `info`
(exit status, submission, config with the model's name, `mini_version`) and OpenAI chat `messages`. Text-based
agents act with a bash block inside the assistant's text and get the output back as a user message: that is
kept as it is (it is what the model saw and wrote). Tool-calling agents (v2) write `tool_calls` and `tool`
messages, kept with their ids. The `exit` message that ends a run and each message's `extra` are metadata,
not conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recordings.importers.common import ImportedSession, load_json, openai_tool_calls, text_of
from recordings.schema import Message
from recordings.strictjson import object_field

BASH_TOOL = {  # the one tool mini-swe-agent's tool-calling models are given (minisweagent.models.utils)
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Execute a bash command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string", "description": "The bash command to execute"}},
            "required": ["command"],
        },
    },
}


def read_miniswe(path: Path) -> ImportedSession:
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ValueError(f"{path}: not a mini-swe-agent trajectory")
    info = object_field(data, "info")
    messages = [m for m in (_message(raw) for raw in data["messages"] if isinstance(raw, dict)) if m is not None]
    names = {c["function"]["name"] for m in messages for c in m.get("tool_calls", [])}
    config = object_field(info, "config")
    model_config = object_field(config, "model")
    notes = [f"mini-swe-agent {info.get('mini_version', '?')}, exit status {info.get('exit_status') or '?'}"]
    return ImportedSession(
        source="mini-swe-agent",
        contexts=[messages],
        tools=[BASH_TOOL] if names == {"bash"} else [],
        model=str(model_config.get("model_name") or "unknown"),
        notes=notes,
    )


def _message(raw: dict[str, Any]) -> Message | None:
    role = raw.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        return None  # "exit" and anything newer: run metadata
    message: Message = {"role": role, "content": text_of(raw.get("content"))}
    reasoning = raw.get("reasoning_content") or raw.get("reasoning")
    if role == "assistant" and isinstance(reasoning, str) and reasoning:
        message["reasoning"] = reasoning
    if role == "assistant" and isinstance(raw.get("tool_calls"), list):
        calls = openai_tool_calls(raw["tool_calls"])
        if calls:
            message["tool_calls"] = calls  # type: ignore[typeddict-item]
    if role == "tool":
        message["tool_call_id"] = str(raw.get("tool_call_id", ""))
    return message


def looks_like(data: Any) -> bool:
    return isinstance(data, dict) and str(data.get("trajectory_format", "")).startswith("mini-swe-agent")
