"""Who may run what: approval modes plus allow/deny rules for shell commands, decided before each call
that changes something. Read-only tools always run."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # at run time only attributes are read: keep `sii --help` from importing every tool
    from recordings.schema import ToolCall
    from tools.base import Tool

Mode = Literal["ask", "auto-edit", "yolo", "plan"]
MODES: tuple[str, ...] = get_args(Mode)
MODE_HELP = {
    "ask": "confirm every write and shell command",
    "auto-edit": "file edits run without asking; shell commands ask",
    "yolo": "everything runs without asking",
    "plan": "read-only: nothing is written or run",
}
Asker = Callable[["Tool", "ToolCall"], bool]
# A command is allowed by a rule only if every simple command in it is; split at shell operators.
_SEGMENTS = re.compile(r"\|\||&&|[;|&\n]|\$\(|`")


def shell_segments(command: str) -> list[str]:
    return [segment.strip() for segment in _SEGMENTS.split(command) if segment.strip()]


def _matching_rule(segment: str, rules: Sequence[str]) -> str | None:
    return next((rule for rule in rules if segment == rule or segment.startswith(rule.rstrip() + " ")), None)


@dataclass
class ApprovalPolicy:
    """`check` returns None to run a call, or the reason it was refused, which the model reads."""

    mode: Mode = "ask"
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: Asker | None = None  # None: nobody to ask (headless), so asking means refusing

    def check(self, tool: Tool, call: ToolCall) -> str | None:
        if not tool.mutates:
            return None
        arguments = call["function"]["arguments"]
        command = arguments.get("command") if tool.name == "run_shell" and isinstance(arguments, dict) else None
        segments = shell_segments(command) if isinstance(command, str) else []
        for segment in segments:
            if rule := _matching_rule(segment, self.deny):
                return f"`{segment}` is blocked by the deny rule {rule!r} in the configuration."
        if self.mode == "plan":
            return "plan mode is read-only: describe the change you would make instead of making it."
        if self.mode == "yolo":
            return None
        if segments and all(_matching_rule(segment, self.allow) for segment in segments):
            return None
        if self.mode == "auto-edit" and tool.edits_files:
            return None
        if self.ask is None:
            return f"{tool.name} needs approval, and this headless run allows it only with --yolo."
        return None if self.ask(tool, call) else "the user declined this call. Ask them, or try another way."
