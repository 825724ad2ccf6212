"""What a query asks for: the SDK's SiiAgentOptions as sii settings, prompt and tools, the session it continues,
and the SDK's own transcript of a conversation this bridge cannot find."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.schema import Message, ToolCall
from sii.agent import answer_unanswered_calls
from sii.bridge.protocol import BridgeError
from sii.config import Settings
from sii.prompts import system_prompt
from tools.base import ToolRegistry

# SiiAgentOptions' model when SII_OPENAI_MODEL is unset: a placeholder, not a choice, so sii picks the model.
SDK_PLACEHOLDER_MODEL = "GLM-4.6"
# Tool names of the original SII CLI (a Gemini CLI fork) and the SDK's README -> sii's, for `allowed_tools`.
TOOL_ALIASES = {
    "list_dir": "list_directory",
    "search_file_content": "grep",
    "grep_search": "grep",
    "replace": "edit_file",
    "run_shell_command": "run_shell",
}
# The SDK's auth type that asks for SII CLI's own tools: served with the sii-cli tool profile.
SII_TOOLS_AUTH = "USE_OPENAI_WITH_SII_TOOLS"
SESSION_ID = re.compile(r"[A-Za-z0-9_.-]+")
# SiiAgentOptions field -> (type, the SDK's default). Other fields (log_events, enable_data_upload) are SDK-side.
OPTION_TYPES: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "system_prompt": (str, None),
    "max_turns": (int, 10),
    "allowed_tools": (list, None),
    "cwd": (str, None),
    "auth_type": (str, "USE_SII"),
    "yolo": (bool, False),
    "run_model": (str, "agent"),
    "timeout_ms": (int, 120000),
    "model": (str, None),
    "temperature": ((int, float), None),
}


@dataclass(frozen=True)
class QueryOptions:
    """The SDK's SiiAgentOptions as they arrive; `allowed_tools` empty or absent means every tool."""

    system_prompt: str | None = None
    max_turns: int = 10
    allowed_tools: tuple[str, ...] = ()
    cwd: Path = field(default_factory=Path.cwd)
    auth_type: str = "USE_SII"
    yolo: bool = False
    run_model: str = "agent"
    timeout_ms: int = 120000
    model: str | None = None
    temperature: float | None = None

    @classmethod
    def parse(cls, raw: Any, request_id: Any) -> QueryOptions:
        if not isinstance(raw, dict):
            raise BridgeError("INVALID_REQUEST", "options must be a JSON object", request_id)
        values: dict[str, Any] = {}
        for key, (kind, default) in OPTION_TYPES.items():
            value = raw.get(key, default)
            if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
                raise BridgeError("INVALID_REQUEST", f"options.{key} has the wrong type: {value!r}", request_id)
            values[key] = value
        tools = values["allowed_tools"] or []
        if not all(isinstance(name, str) for name in tools):
            raise BridgeError("INVALID_REQUEST", "options.allowed_tools must be a list of names", request_id)
        if values["run_model"] not in ("agent", "ask"):
            raise BridgeError("INVALID_REQUEST", "options.run_model must be 'agent' or 'ask'", request_id)
        if values["max_turns"] < 1 or values["timeout_ms"] < 1:
            message = "options.max_turns and options.timeout_ms must be positive"
            raise BridgeError("INVALID_REQUEST", message, request_id)
        cwd = Path(values["cwd"]).expanduser() if values["cwd"] else Path.cwd()
        if not cwd.is_dir():
            raise BridgeError("INVALID_REQUEST", f"options.cwd {cwd} is not a directory", request_id)
        return cls(**{**values, "allowed_tools": tuple(tools), "cwd": cwd})

    def settings(self, request_id: Any) -> Settings:
        """sii's settings for this query: the SDK's SII_OPENAI_* variables win over sii's own configuration."""
        model = self.model
        if model == SDK_PLACEHOLDER_MODEL and not os.environ.get("SII_OPENAI_MODEL"):
            model = None
        try:
            settings = Settings.resolve(
                base_url=os.environ.get("SII_OPENAI_BASE_URL") or None,
                model=model,
                workspace=self.cwd,
                max_steps=self.max_turns,
                mode="yolo" if self.yolo else None,
            )
        except ValueError as exc:  # a broken config file
            raise BridgeError("SESSION_ERROR", str(exc), request_id) from None
        settings.api_key = os.environ.get("SII_OPENAI_API_KEY") or settings.api_key
        if self.auth_type == SII_TOOLS_AUTH and "tool_profile" not in settings.sources:
            settings.tool_profile = "sii-cli"  # the client asked for SII CLI's tools: their names and schemas
        if self.temperature is not None:
            settings.sampling["temperature"] = self.temperature
        return settings

    def system_prompt_for(self, workspace: Path) -> str:
        """`agent`: sii's prompt plus the caller's; `ask`: the caller's alone (the SDK always sends one)."""
        if self.run_model == "ask":
            return self.system_prompt or ""
        base = system_prompt(workspace, "gemini-cli" if self.auth_type == SII_TOOLS_AUTH else "sii")
        return f"{base}\n\n{self.system_prompt}" if self.system_prompt else base

    def tools(self, registry: ToolRegistry) -> ToolRegistry:
        if self.run_model == "ask":
            return ToolRegistry([])
        if not self.allowed_tools:
            return registry
        names = dict.fromkeys(name if name in registry else TOOL_ALIASES.get(name, name) for name in self.allowed_tools)
        return ToolRegistry([tool for name in names if (tool := registry.get(name)) is not None])


def history_messages(turns: Iterable[Any]) -> list[Message]:
    """The SDK's own transcript (SessionState.history) as chat messages, for a conversation whose recording this
    bridge cannot find. An assistant's text and the calls after it become one message; every call is answered."""
    messages: list[Message] = []
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(content := turn.get("content"), str):
            continue
        role, call_id, name = turn.get("role"), turn.get("tool_call_id"), turn.get("tool_name")
        last = messages[-1] if messages and messages[-1]["role"] == "assistant" else None
        if role == "user":
            messages.append({"role": "user", "content": content})
        elif role == "tool" and isinstance(call_id, str):
            messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        elif role == "assistant" and isinstance(call_id, str) and isinstance(name, str):
            metadata = turn.get("metadata")
            arguments = metadata.get("input") if isinstance(metadata, dict) else None
            arguments = arguments if isinstance(arguments, dict | str) else {}
            call: ToolCall = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            if last is None:
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif role == "assistant":
            messages.append({"role": "assistant", "content": content})
    return messages + answer_unanswered_calls(messages)


def continued_session_id(params: dict[str, Any]) -> str | None:
    """The session a query continues: its `session_id`, else the one the last error in the SDK's history names.
    The SDK learns the id only from `completed` and raises on `error`, so after a first query that failed (a
    timeout) it sends no id; but it keeps the error event, details and all, in the history it sends back."""
    wanted = params.get("session_id")
    history = params.get("history")
    for turn in reversed(history if isinstance(history, list) and wanted is None else []):
        for key in ("metadata", "error", "details", "session_id"):
            turn = turn.get(key) if isinstance(turn, dict) else None
        if turn is not None:
            wanted = turn
            break
    return wanted if isinstance(wanted, str) and SESSION_ID.fullmatch(wanted) else None
