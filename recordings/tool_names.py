"""The tool profiles' names for sii's own tools, as data: which sii tool a profile's tool is, and which sii
argument each of its arguments is. The live adapters (tools/profiles/) and the exporter's renaming
(`sii recordings export --tool-names`) read this one table, so a recording made with either profile trains
beside the other's. Pure data and pure functions: nothing here imports tools/ or sii/."""

from __future__ import annotations

import copy
import json
import posixpath
import shlex
from dataclasses import dataclass
from typing import Any

NATIVE = "sii"
PROFILES = (NATIVE, "sii-cli")


@dataclass(frozen=True)
class Rename:
    """One profile tool as sii's `native` tool; `arguments`: profile argument -> sii argument. `paths`: the
    profile arguments that hold absolute paths (sii's are workspace-relative). `zero_based`: a line offset that
    counts from 0 (sii's count from 1)."""

    native: str
    arguments: dict[str, str]
    paths: tuple[str, ...] = ()
    zero_based: tuple[str, ...] = ()


# SII CLI (Gemini CLI v0.1.22's tool surface) -> sii. read_many_files and save_memory have no sii tool of their own
# (their adapters run read_file and write_file), so a recording's calls of them keep their names in either direction.
SII_CLI: dict[str, Rename] = {
    "read_file": Rename(
        "read_file", {"absolute_path": "path", "offset": "offset", "limit": "limit"}, ("absolute_path",), ("offset",)
    ),
    "write_file": Rename("write_file", {"file_path": "path", "content": "content"}, ("file_path",)),
    "replace": Rename(
        "edit_file",
        {"file_path": "path", "old_string": "old_string", "new_string": "new_string"},
        ("file_path",),
    ),
    "list_directory": Rename("list_directory", {"path": "path"}, ("path",)),
    "glob": Rename("glob", {"pattern": "pattern", "path": "path"}, ("path",)),
    "search_file_content": Rename("grep", {"pattern": "pattern", "path": "path", "include": "glob"}, ("path",)),
    "run_shell_command": Rename("run_shell", {"command": "command"}),
}
TABLES: dict[str, dict[str, Rename]] = {"sii-cli": SII_CLI}


def _relative(path: Any, workspace: str | None) -> Any:
    """An absolute path inside `workspace` as sii writes it (relative); anything else as it is."""
    if not isinstance(path, str) or not workspace or not path.startswith("/"):
        return path
    inside = posixpath.relpath(posixpath.normpath(path), workspace)
    return path if inside.startswith("..") else inside


def _absolute(path: Any, workspace: str | None) -> Any:
    if not isinstance(path, str) or not workspace or path.startswith("/"):
        return path
    return posixpath.normpath(posixpath.join(workspace, path))


def to_native(profile: str, name: str, arguments: dict[str, Any], workspace: str | None = None) -> tuple[str, dict]:
    """A profile call as the sii call it is: (sii tool name, sii arguments). Unknown names are kept as they came;
    arguments sii has no spelling for are left out."""
    rename = TABLES.get(profile, {}).get(name)
    if rename is None:
        return name, dict(arguments)
    native: dict[str, Any] = {}
    directory = arguments.get("directory")  # run_shell_command's: sii's shell enters it in the command itself
    if isinstance(directory, str) and directory and isinstance(arguments.get("command"), str):
        arguments = {**arguments, "command": f"cd -- {shlex.quote(directory)} && {arguments['command']}"}
    for key, value in arguments.items():
        if key in rename.paths:
            value = _relative(value, workspace)
        if key in rename.zero_based and isinstance(value, int) and not isinstance(value, bool):
            value += 1
        if key == "expected_replacements":  # replace's count, checked by its adapter; sii's edit replaces all
            native["replace_all"] = isinstance(value, int | float) and value > 1
            continue
        if (
            key in rename.arguments
        ):  # the profile's other arguments (a description, ignore options) have no sii spelling
            native[rename.arguments[key]] = value
    return rename.native, native


def to_profile(profile: str, name: str, arguments: dict[str, Any], workspace: str | None = None) -> tuple[str, dict]:
    """A sii call as the profile's call: (profile tool name, its arguments). sii tools the profile has no name for
    keep theirs. `replace_all` has no count to become `expected_replacements` and is dropped."""
    found = next(((key, r) for key, r in TABLES.get(profile, {}).items() if r.native == name), None)
    if found is None:
        return name, dict(arguments)
    profile_name, rename = found
    back = {native: key for key, native in rename.arguments.items()}
    converted: dict[str, Any] = {}
    for key, value in arguments.items():
        if key == "replace_all" or key not in back:
            continue  # sii-only arguments (replace_all, depth, timeout, background...) have no profile spelling
        target = back[key]
        if target in rename.paths:
            value = _absolute(value, workspace)
        if target in rename.zero_based and isinstance(value, int) and not isinstance(value, bool):
            value = max(value - 1, 0)
        converted[target] = value
    return profile_name, converted


def rename_sample(
    data: dict[str, Any], source: str, to: str, workspace: str | None, schemas: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A training sample ({"messages", "tools"}) recorded with profile `source`, its calls, tool messages and tools
    list in profile `to`'s names. `schemas` (the target's tool list) replace the declarations of the tools
    renamed, so the sample's tools describe exactly what its calls use."""
    if source == to:
        return data
    renamed = copy.deepcopy(data)
    called: set[str] = set()
    for message in renamed.get("messages", []):
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            name, arguments = function.get("name"), function.get("arguments")
            parsed = _parsed(arguments)
            if not isinstance(name, str) or parsed is None:
                continue
            native_name, native = to_native(source, name, parsed, workspace)
            new_name, new_arguments = to_profile(to, native_name, native, workspace)
            function["name"] = new_name
            called.add(new_name)
            function["arguments"] = new_arguments if isinstance(arguments, dict) else json.dumps(new_arguments)
        if message.get("role") == "tool" and isinstance(message.get("name"), str):
            message["name"] = tool_name_in(source, to, message["name"])
    renamed["tools"] = _rename_tools(renamed.get("tools") or [], source, to, schemas, called)
    return renamed


def _parsed(arguments: Any) -> dict[str, Any] | None:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def tool_name_in(source: str, to: str, name: str) -> str:
    """The name profile `to` gives the tool that profile `source` calls `name`."""
    native = TABLES[source][name].native if name in TABLES.get(source, {}) else name
    return next((key for key, rename in TABLES.get(to, {}).items() if rename.native == native), native)


def _rename_tools(
    tools: list[dict[str, Any]], source: str, to: str, schemas: list[dict[str, Any]] | None, called: set[str]
) -> list[dict[str, Any]]:
    """The sample's tools list in `to`'s names: `schemas` (what a `to` session is offered) when given, plus the
    declarations of tools the sample calls that `to` has no name for; else each declaration renamed."""
    renamed: list[dict[str, Any]] = list(schemas or [])
    declared = {schema["function"]["name"] for schema in renamed}
    for tool in tools:
        name = tool.get("function", {}).get("name")
        new_name = tool_name_in(source, to, name) if isinstance(name, str) else name
        if new_name in declared or (schemas and new_name not in called):
            continue
        renamed.append(tool if new_name == name else {**tool, "function": {**tool["function"], "name": new_name}})
        declared.add(new_name)
    return renamed
