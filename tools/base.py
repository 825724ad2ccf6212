"""The tool contract: schema in, Observation out. Tools never print; faces render what they return."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.schema import json_type, unicode_safe
from recordings.strictjson import parse_json


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
    `edits_files`: it only edits workspace files (with undo and diffs), so auto-edit mode runs it unasked."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any], ToolContext], Observation]
    mutates: bool = False
    edits_files: bool = False

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
        self._validators: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    def dispatch(
        self,
        name: str,
        arguments: dict[str, Any] | str,
        context: ToolContext,
        approve: Callable[[Tool], str | None] | None = None,
    ) -> Observation:
        """Run one call. Unknown tools, arguments that are no JSON object or break the tool's schema, refusals
        and tool errors become observations, never raise. `approve` is asked only about a valid call: it
        returns None to run it, or why it may not run."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return Observation(f"Error: unknown tool {name!r}. Available tools: {known}.", is_error=True)
        if isinstance(arguments, str):
            return Observation(_not_an_object(name, arguments), is_error=True)
        if violations := self._violations(tool, arguments):
            listed = "; ".join(violations[:MAX_VIOLATIONS])
            return Observation(
                f"Error: invalid arguments for {name}: {listed}. Schema: {json.dumps(tool.parameters)}", is_error=True
            )
        if approve is not None and (refusal := approve(tool)):
            return Observation(f"Not run: {refusal}", is_error=True)
        try:
            observation = tool.run(arguments, context)
            # Tools pass on text they did not write (file names, command output), which may hold lone
            # surrogates (undecodable bytes): the model, the server and the recording need valid Unicode.
            observation.text = unicode_safe(observation.text)
            return observation
        except ToolError as exc:
            return Observation(f"Error: {exc}", is_error=True)
        except (OSError, ValueError, TypeError) as exc:
            return Observation(f"Error: {name} failed: {type(exc).__name__}: {exc}", is_error=True)

    def _violations(self, tool: Tool, arguments: object) -> list[str]:
        """How `arguments` break the schema the model was shown, checked by jsonschema, one line each."""
        validator = self._validator(tool)
        if validator is None:
            return []
        from jsonschema.exceptions import relevance
        from referencing.exceptions import Unresolvable

        try:
            errors = sorted(validator.iter_errors(arguments), key=relevance)
        except (Unresolvable, re.error, RecursionError):  # a schema jsonschema cannot apply: the tool judges
            return []
        return [_describe_violation(error) for error in errors]

    def _validator(self, tool: Tool) -> Any:
        """One validator per tool, built on first use (jsonschema is imported only then); None when the tool's
        schema is itself invalid (an MCP server's), so the call goes to the tool as it came."""
        if tool.name not in self._validators:
            from jsonschema import Draft202012Validator, validators
            from jsonschema.exceptions import SchemaError

            schema = tool.schema()["function"]["parameters"]
            cls = validators.validator_for(schema, default=Draft202012Validator)
            try:
                cls.check_schema(schema)
                self._validators[tool.name] = cls(schema)
            except SchemaError:
                self._validators[tool.name] = None
        return self._validators[tool.name]


MAX_VIOLATIONS = 5


def _not_an_object(name: str, arguments: str) -> str:
    try:
        kind = json_type(parse_json(arguments))
    except ValueError:
        return (
            f"Error: the arguments for {name} are not valid JSON: {arguments[:200]!r}. "
            "Send a JSON object matching the tool's schema."
        )
    return f"Error: the arguments for {name} must be a JSON object, not a JSON {kind}: {arguments[:200]!r}."


def _describe_violation(error: Any) -> str:
    """One jsonschema error as the model should read it: which argument, what was expected, what came."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)[1:]
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        return f"missing required argument {', '.join(map(repr, missing))}" + (f" in {where}" if where else "")
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        unexpected = ", ".join(repr(key) for key in instance if key not in known)
        return f"unexpected argument {unexpected}" + (f" in {where}" if where else "")
    came = f"{json_type(instance)} {json.dumps(instance, ensure_ascii=False, default=repr)[:80]}"
    subject = f"argument {where!r}" if where else "the arguments"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{subject} must be of type {expected}, got {came}"
    return f"{subject}: {error.message[:200]} (got {came})"
