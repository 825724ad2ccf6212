"""SII CLI's tool surface over sii's tools. SII CLI is a fork of Gemini CLI; its names, JSON schemas, descriptions
and observation texts are taken from Gemini CLI v0.1.22 (packages/core, commit 7cf5b1fa13af7606582f4d3c186e3518f3a93ead,
Apache-2.0), the last 0.1.x release, whose names match SII CLI's (`read_file.absolute_path`, `search_file_content`).

Each tool translates its call into sii's own tool (recordings.tool_names holds the renames), runs that, and
words the result as Gemini CLI does. Paths may be absolute inside the workspace, as Gemini CLI wants them, or
relative; ToolContext refuses everything outside."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import stat
from typing import Any

from recordings.tool_names import SII_CLI, to_native
from tools.base import Observation, Tool, ToolContext, ToolError
from tools.files import EDIT_FILE, LIST_DIRECTORY, MAX_READ_CHARS, READ_FILE, WRITE_FILE
from tools.profiles import gemini_declarations as declared
from tools.search import GLOB, GREP, glob_matcher
from tools.shell import DEFAULT_TIMEOUT_S, background_command, run_foreground, start_job

PROFILE = "sii-cli"
MEMORY_FILE = "AGENTS.md"  # the project memory sii reads first (sii.prompts.MEMORY_FILES)
MEMORY_SECTION_HEADER = "## Gemini Added Memories"
_NUMBERED = re.compile(r" *(\d+)\t(.*)")
_MATCH = re.compile(r"(.*?):(\d+):(.*)")


def native_arguments(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A profile call's arguments in sii's spelling (absolute paths stay absolute: ToolContext confines them)."""
    return to_native(PROFILE, name, args)[1]


def _absolute(ctx: ToolContext, relative: str) -> str:
    return str(ctx.resolve(relative))


def _lines(text: str) -> list[tuple[int, str]]:
    """The numbered lines of a sii read_file observation, as (number, text)."""
    return [(int(match[1]), match[2]) for line in text.split("\n") if (match := _NUMBERED.fullmatch(line))]


def read_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    native = native_arguments("read_file", args)
    try:
        observation = READ_FILE.run(native, ctx)
    except ToolError as exc:
        message = str(exc)
        if "does not exist" in message:
            text = "Could not read file because no file was found at the specified path."
        elif "is a directory" in message:
            text = "Could not read file because the provided path is a directory, not a file."
        else:
            text = f"Could not read file. {message}"
        return Observation(text, is_error=True)
    lines = _lines(observation.text)
    content = "\n".join(line for _, line in lines)
    total = observation.data.get("lines")
    if lines and isinstance(total, int) and (lines[0][0] > 1 or lines[-1][0] < total):
        start, end = lines[0][0], lines[-1][0]
        offset = args.get("offset")
        next_offset = offset + end - start + 1 if offset else end
        content = (
            "\nIMPORTANT: The file content has been truncated.\n"
            f"Status: Showing lines {start}-{end} of {total} total lines.\n"
            "Action: To read more of the file, you can use the 'offset' and 'limit' parameters in a subsequent "
            f"'read_file' call. For example, to read the next section of the file, use offset: {next_offset}.\n\n"
            f"--- FILE CONTENT (truncated) ---\n{content}"
        )
    return Observation(content, data=observation.data)


def write_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    path = args["file_path"]
    try:
        observation = WRITE_FILE.run(native_arguments("write_file", args), ctx)
    except ToolError as exc:
        return Observation(f"Error writing to file: {exc}", is_error=True)
    created = observation.text.startswith("Created")
    text = (
        f"Successfully created and wrote to new file: {path}." if created else f"Successfully overwrote file: {path}."
    )
    return Observation(text, data=observation.data)


def _replace_plan(args: dict[str, Any], ctx: ToolContext) -> tuple[Tool, dict[str, Any], int] | str:
    """The sii call a `replace` makes (write_file to create, edit_file to edit), or Gemini CLI's refusal."""
    path, old, new = args["file_path"], args["old_string"], args["new_string"]
    expected = args.get("expected_replacements", 1)
    if ctx.stat(path) is None:
        if old == "":
            return WRITE_FILE, {"path": path, "content": new}, 0
        return f"File not found: {path}"
    if old == "":
        return f"File already exists, cannot create: {path}"
    try:
        current = ctx.read_bytes(path).decode("utf-8")
    except (ToolError, UnicodeDecodeError) as exc:
        return f"Failed to read content of existing file: {path} ({exc})"
    found = current.count(old)
    if found == 0:
        return (
            f"Failed to edit, 0 occurrences found for old_string in {path}. No edits made. The exact text in "
            "old_string was not found. Ensure you're not escaping content incorrectly and check whitespace, "
            "indentation, and context. Use read_file tool to verify."
        )
    if found != expected:
        term = "occurrence" if expected == 1 else "occurrences"
        return f"Failed to edit, Expected {expected:g} {term} but found {found} for old_string in file: {path}"
    if old == new:
        return f"No changes to apply. The old_string and new_string are identical in file: {path}"
    return EDIT_FILE, {"path": path, "old_string": old, "new_string": new, "replace_all": True}, found


def replace(args: dict[str, Any], ctx: ToolContext) -> Observation:
    plan = _replace_plan(args, ctx)
    if isinstance(plan, str):
        return Observation(plan, is_error=True)
    tool, native, found = plan
    try:
        observation = tool.run(native, ctx)
    except ToolError as exc:
        return Observation(f"Error executing edit: {exc}", is_error=True)
    path = args["file_path"]
    if tool is WRITE_FILE:
        return Observation(f"Created new file: {path} with provided content.", data=observation.data)
    return Observation(f"Successfully modified file: {path} ({found} replacements).", data=observation.data)


def _replace_preview(args: dict[str, Any], ctx: ToolContext) -> str | None:
    plan = _replace_plan(args, ctx)
    if isinstance(plan, str) or plan[0].preview is None:
        return None
    return plan[0].preview(plan[1], ctx)


def list_directory(args: dict[str, Any], ctx: ToolContext) -> Observation:
    path = args["path"]
    info = ctx.stat(path)
    if info is None:
        return Observation(f"Error: Directory not found or inaccessible: {path}", is_error=True)
    try:
        observation = LIST_DIRECTORY.run({"path": path, "depth": 1}, ctx)
    except ToolError as exc:
        if "is a file" in str(exc):
            return Observation(f"Error: Path is not a directory: {path}", is_error=True)
        return Observation(f"Error listing directory: {exc}", is_error=True)
    names = [line for line in observation.text.split("\n") if line and not line.startswith(("(", "["))]
    ignored = args.get("ignore") or []
    names = [name for name in names if not any(fnmatch.fnmatch(name.rstrip("/"), glob) for glob in ignored)]
    if not names:
        return Observation(f"Directory {path} is empty.", data=observation.data)
    names.sort(key=lambda name: (not name.endswith("/"), name.rstrip("/")))
    listing = "\n".join(f"[DIR] {name[:-1]}" if name.endswith("/") else name for name in names)
    return Observation(f"Directory listing for {path}:\n{listing}", data=observation.data)


def glob(args: dict[str, Any], ctx: ToolContext) -> Observation:
    native = {key: value for key, value in native_arguments("glob", args).items() if key in ("pattern", "path")}
    where = _absolute(ctx, native.get("path", "."))
    try:
        observation = GLOB.run(native, ctx)
    except ToolError as exc:
        return Observation(f"Error during glob search operation: {exc}", is_error=True)
    if not observation.data.get("count"):
        return Observation(f'No files found matching pattern "{args["pattern"]}" within {where}', data=observation.data)
    files = [_absolute(ctx, line) if not line.startswith("[") else line for line in observation.text.split("\n")]
    text = (
        f'Found {observation.data["count"]} file(s) matching "{args["pattern"]}" within {where}, '
        "sorted by modification time (newest first):\n" + "\n".join(files)
    )
    return Observation(text, data=observation.data)


def search_file_content(args: dict[str, Any], ctx: ToolContext) -> Observation:
    native = native_arguments("search_file_content", args)
    target = ctx.locate(native.get("path", "."))
    try:
        observation = GREP.run(native, ctx)
    except ToolError as exc:
        return Observation(f"Error during grep search operation: {exc}", is_error=True)
    where = f'in path "{args["path"]}"' if args.get("path") else "in the workspace directory"
    where += f' (filter: "{args["include"]}")' if args.get("include") else ""
    by_file: dict[str, list[tuple[int, str]]] = {}
    for line in observation.text.split("\n") if observation.data.get("matches") else []:
        if match := _MATCH.fullmatch(line):
            name = match[1] if target == "." else match[1].removeprefix(target + "/")
            by_file.setdefault(name, []).append((int(match[2]), match[3].strip()))
    count = sum(len(matches) for matches in by_file.values())
    if not count:
        return Observation(f'No matches found for pattern "{args["pattern"]}" {where}.', data=observation.data)
    text = f'Found {count} {"match" if count == 1 else "matches"} for pattern "{args["pattern"]}" {where}:\n---\n'
    for name, matches in by_file.items():
        text += f"File: {name}\n" + "".join(f"L{number}: {line}\n" for number, line in sorted(matches)) + "---\n"
    return Observation(text.strip(), data=observation.data)


def _shell_line(args: dict[str, Any], directory: str | None = None) -> str | None:
    """The bash line a run_shell_command call runs: its command in a subshell, as Gemini CLI's `bash -c` runs it
    (an `exit` or `cd` ends with it), entered into `directory` (default: the call's own) when one is given; a
    trailing `&` stays outside, where sii's shell starts it as a background job."""
    command = args.get("command")
    if not isinstance(command, str):
        return None
    directory = directory or args.get("directory") or None
    background = background_command(command)
    body = command if background is None else background
    if isinstance(directory, str):
        body = f"cd -- {shlex.quote(directory)} && {body}"
    return f"{body} &" if background is not None else f"(\n{body}\n)"


def run_shell_command(args: dict[str, Any], ctx: ToolContext) -> Observation:
    command, directory = args["command"], args.get("directory")
    if directory:
        if directory.startswith("/"):
            return Observation(
                "Directory cannot be absolute. Please refer to workspace directories by their name.", is_error=True
            )
        info = ctx.stat(directory)
        if info is None or not stat.S_ISDIR(info.st_mode):
            return Observation(f"Directory '{directory}' does not exist in the workspace.", is_error=True)
    # Gemini CLI runs each command from the project root: the directory is entered by its real path from there.
    line = _shell_line(args, _absolute(ctx, directory or ".")) or command
    background, pids, exit_code, errors, text = background_command(line), "(none)", None, "(none)", ""
    if background is not None:
        job = start_job(background, ctx)
        pids, exit_code, data = str(job.data["pid"]), 0, job.data
    else:
        text, notes, data = run_foreground(line, DEFAULT_TIMEOUT_S, ctx)
        exit_code, errors = data["exit_code"], " ".join(notes) or "(none)"
    observation = "\n".join(
        [
            f"Command: {command}",
            f"Directory: {directory or '(root)'}",
            f"Stdout: {text or '(empty)'}",
            "Stderr: (empty)",  # sii's shell merges stderr into stdout, in the order they were written
            f"Error: {errors}",
            f"Exit Code: {exit_code if exit_code is not None else '(none)'}",
            "Signal: (none)",
            f"Background PIDs: {pids}",
            "Process Group PGID: (none)",
        ]
    )
    return Observation(observation, is_error=exit_code not in (0, None) or errors != "(none)", data=data)


def _many_files(args: dict[str, Any], ctx: ToolContext) -> list[str]:
    """The workspace files read_many_files reads: each path or glob in `paths` and `include` (a directory means
    everything under it), minus `exclude`, each once, in order."""
    excluded = [glob_matcher(pattern) for pattern in args.get("exclude") or []]
    found: list[str] = []
    for pattern in [*args["paths"], *(args.get("include") or [])]:
        info = ctx.stat(pattern)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            candidates = [ctx.locate(pattern)]
        else:
            where, glob_pattern = (pattern, "**") if info is not None else (".", pattern)
            observation = GLOB.run({"pattern": glob_pattern, "path": where}, ctx)
            listed = observation.text.split("\n") if observation.data.get("count") else []
            candidates = sorted(line for line in listed if not line.startswith("["))
        found += [name for name in candidates if name not in found and not any(match(name) for match in excluded)]
    return found


def read_many_files(args: dict[str, Any], ctx: ToolContext) -> Observation:
    try:
        names = _many_files(args, ctx)
    except ToolError as exc:
        return Observation(f"Error during file search: {exc}", is_error=True)
    parts: list[str] = []
    read: list[str] = []
    skipped: list[str] = []
    used = 0
    for index, name in enumerate(names):
        if used >= MAX_READ_CHARS:  # one read_file's worth: the rest is named, not read
            parts.append(
                f"[... {len(names) - index} more files not read: the output reached {MAX_READ_CHARS} characters; "
                "read them with read_file or narrow the paths]"
            )
            break
        observation = read_file({"absolute_path": name}, ctx)
        if observation.is_error:
            skipped.append(name)
            continue
        content = observation.text
        if content.startswith("\nIMPORTANT: The file content has been truncated."):
            warning = "[WARNING: This file was truncated. To view the full content, use the 'read_file' tool on "
            content = warning + "this specific file.]\n\n" + content.split("--- FILE CONTENT (truncated) ---\n", 1)[1]
        parts.append(f"--- {_absolute(ctx, name)} ---\n\n{content}\n\n")
        used += len(parts[-1])
        read.append(name)
    text = "".join(parts) or "No files matching the criteria were found or all were skipped."
    return Observation(text, data={"files": len(read), "skipped": skipped})  # skipped: binary or unreadable


def memory_content(current: str, fact: str) -> str:
    """`current` with `fact` added as a bullet under Gemini CLI's memory section (computeNewContent in
    memoryTool.ts): the section is created at the end when absent, else the bullet goes at its end."""
    item = "- " + re.sub(r"^(-+\s*)+", "", fact.strip()).strip()
    at = current.find(MEMORY_SECTION_HEADER)
    if at == -1:
        separator = "" if not current or current.endswith("\n\n") else "\n" if current.endswith("\n") else "\n\n"
        return f"{current}{separator}{MEMORY_SECTION_HEADER}\n{item}\n"
    start = at + len(MEMORY_SECTION_HEADER)
    end = current.find("\n## ", start)
    end = len(current) if end == -1 else end
    section = current[start:end].rstrip() + f"\n{item}"
    return f"{current[:start].rstrip()}\n{section.lstrip()}\n{current[end:]}".rstrip() + "\n"


def _memory_write(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    current = ctx.read_bytes(MEMORY_FILE).decode("utf-8") if ctx.stat(MEMORY_FILE) is not None else ""
    return {"path": MEMORY_FILE, "content": memory_content(current, args["fact"])}


def save_memory(args: dict[str, Any], ctx: ToolContext) -> Observation:
    fact = args["fact"]
    if not fact.strip():
        return Observation('Parameter "fact" must be a non-empty string.', is_error=True)
    try:
        observation = WRITE_FILE.run(_memory_write(args, ctx), ctx)
    except (ToolError, UnicodeDecodeError) as exc:
        text = json.dumps({"success": False, "error": f"Failed to save memory. Detail: {exc}"})
        return Observation(text, is_error=True)
    message = f'Okay, I\'ve remembered that: "{fact}"'
    return Observation(json.dumps({"success": True, "message": message}), data=observation.data)


def _memory_preview(args: dict[str, Any], ctx: ToolContext) -> str | None:
    try:
        return WRITE_FILE.preview(_memory_write(args, ctx), ctx) if WRITE_FILE.preview else None
    except (ToolError, UnicodeDecodeError, KeyError):
        return None


def _written(key: str) -> Any:
    return lambda args: [args[key]] if isinstance(args.get(key), str) else []


def _translated_preview(name: str, native: Tool) -> Any:
    preview = native.preview
    return lambda args, ctx: preview(native_arguments(name, args), ctx) if preview else None


def _tool(name: str, run: Any, **flags: Any) -> Tool:
    declaration = declared.DECLARATIONS[name]
    return Tool(name, declaration["description"], declaration["parameters"], run, **flags)


SII_CLI_TOOLS = [
    _tool("read_file", read_file),
    _tool(
        "write_file",
        write_file,
        mutates=True,
        edits_files=True,
        paths_written=_written("file_path"),
        preview=_translated_preview("write_file", WRITE_FILE),
    ),
    _tool(
        "replace",
        replace,
        mutates=True,
        edits_files=True,
        paths_written=_written("file_path"),
        preview=_replace_preview,
    ),
    _tool("read_many_files", read_many_files),
    _tool("list_directory", list_directory),
    _tool("glob", glob),
    _tool("search_file_content", search_file_content),
    _tool("run_shell_command", run_shell_command, mutates=True, shell_command=_shell_line),
    _tool(
        "save_memory",
        save_memory,
        mutates=True,
        edits_files=True,
        paths_written=lambda args: [MEMORY_FILE],
        preview=_memory_preview,
    ),
]
assert {tool.name for tool in SII_CLI_TOOLS} >= set(SII_CLI), "every renamed tool has an adapter"
