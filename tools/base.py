"""The tool contract: schema in, Observation out. Tools never print; faces render what they return."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.text import clip


class ToolError(Exception):
    """A failure the model should read and can act on (bad path, missing string...)."""


@dataclass
class Observation:
    """What a tool returns: text for the model, structured data for the UI and the recording."""

    text: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolContext:
    """What a tool may touch: the workspace root, plus per-session resources (the shell) kept here."""

    workspace: Path
    session_id: str = ""
    resources: dict[str, Any] = field(default_factory=dict)

    def resolve(self, path: object) -> Path:
        """Resolve `path` against the workspace and refuse anything that escapes it (symlinks included), or
        that it would misread or crash on: non-strings, null bytes, `~` (not expanded here), symlink loops."""
        if not isinstance(path, str):
            raise ToolError(f"path must be a string, got {type(path).__name__}")
        if "\0" in path:
            raise ToolError(f"path {path!r} contains a null byte")
        if path.startswith("~"):
            raise ToolError(
                f"path {path!r} starts with '~', which is not expanded; use a path relative to the workspace"
            )
        root = self.workspace.resolve()
        try:
            candidate = (root / path).resolve()  # an absolute `path` replaces root here
        except RuntimeError as exc:  # pathlib reports symlink loops this way
            raise ToolError(f"path {path!r} cannot be resolved: {exc}") from exc
        if candidate != root and root not in candidate.parents:
            raise ToolError(f"path {path!r} is outside the workspace {root}")
        return candidate

    def close(self) -> None:
        """Release per-session resources (e.g. kill the persistent shell)."""
        for resource in self.resources.values():
            close = getattr(resource, "close", None)
            if callable(close):
                close()
        self.resources.clear()


@dataclass(frozen=True)
class Tool:
    """A callable the model can use. `mutates`: it changes something, so it needs approval outside yolo mode.
    `edits_files`: it only edits workspace files (with undo and diffs), so auto-edit mode runs it unasked.
    `paths_written`: the paths a call would write, as given, so approval can protect `.git/` and `.sii/`."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any], ToolContext], Observation]
    mutates: bool = False
    edits_files: bool = False
    paths_written: Callable[[dict[str, Any]], list[str]] | None = None

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema the model sees. Unknown arguments are declared invalid, which also
        keeps a server's constrained decoding (`tool_choice: required`) from inventing some."""
        parameters = {**self.parameters, "additionalProperties": False}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


class ToolRegistry:
    """Hands schemas to the model and dispatches calls, turning every failure into an error Observation."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    def dispatch(self, name: str, arguments: dict[str, Any] | str, context: ToolContext) -> Observation:
        """Run one call. Unknown tools, unparsable arguments and tool errors become observations, never raise."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return Observation(f"Error: unknown tool {name!r}. Available tools: {known}.", is_error=True)
        if isinstance(arguments, str):
            return Observation(
                f"Error: the arguments for {name} are not valid JSON: {clip(arguments, 200)!r}. "
                "Send a JSON object matching the tool's schema.",
                is_error=True,
            )
        missing = [key for key in tool.parameters.get("required", []) if key not in arguments]
        if missing:
            return Observation(
                f"Error: {name} is missing required argument(s): {', '.join(missing)}. "
                f"Schema: {json.dumps(tool.parameters)}",
                is_error=True,
            )
        try:
            return tool.run(arguments, context)
        except ToolError as exc:
            return Observation(f"Error: {exc}", is_error=True)
        except (OSError, ValueError, TypeError) as exc:
            return Observation(f"Error: {name} failed: {type(exc).__name__}: {exc}", is_error=True)
