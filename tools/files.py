"""read_file, write_file, edit_file: confined to the workspace, every write reported as a unified diff."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError

MAX_READ_LINES = 2000
MAX_LINE_CHARS = 2000


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _read_text(path: Path, shown: str) -> str:
    if not path.exists():
        raise ToolError(f"{shown} does not exist")
    if path.is_dir():
        raise ToolError(f"{shown} is a directory; use run_shell with `ls` to list it")
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        raise ToolError(f"{shown} is a binary file ({len(raw)} bytes); it is not shown")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{shown} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    path = ctx.resolve(args["path"])
    text = _read_text(path, args["path"])
    lines = text.splitlines()
    offset = max(int(args.get("offset", 1)), 1)
    limit = min(int(args.get("limit", MAX_READ_LINES)), MAX_READ_LINES)
    chosen = lines[offset - 1 : offset - 1 + limit]
    numbered = [f"{n:6}\t{line[:MAX_LINE_CHARS]}" for n, line in enumerate(chosen, start=offset)]
    body = "\n".join(numbered) if numbered else "(no lines in this range)"
    end = offset - 1 + len(chosen)
    if end < len(lines):
        body += f"\n[truncated: showing lines {offset}-{end} of {len(lines)}; use offset={end + 1} to read on]"
    return Observation(body, data={"path": args["path"], "lines": len(lines)})


def write_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    path = ctx.resolve(args["path"])
    before = _read_text(path, args["path"]) if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(args["content"], encoding="utf-8")
    diff = unified_diff(args["path"], before, args["content"])
    verb = "Updated" if before else "Created"
    return Observation(f"{verb} {args['path']}.", data={"path": args["path"], "diff": diff})


def _nearest_lines(text: str, needle: str) -> str:
    first = needle.strip().splitlines()[0] if needle.strip() else needle
    close = difflib.get_close_matches(first, text.splitlines(), n=3, cutoff=0.5)
    return "; nearest lines: " + " | ".join(repr(line) for line in close) if close else ""


def edit_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    path = ctx.resolve(args["path"])
    before = _read_text(path, args["path"])
    old, new = args["old_string"], args["new_string"]
    if old == new:
        raise ToolError("old_string and new_string are identical; nothing to change")
    count = before.count(old) if old else 0
    if count == 0:
        raise ToolError(f"old_string was not found in {args['path']}{_nearest_lines(before, old)}")
    if count > 1 and not args.get("replace_all"):
        raise ToolError(
            f"old_string occurs {count} times in {args['path']}; add surrounding lines to make it unique "
            "or set replace_all to true"
        )
    after = before.replace(old, new)
    path.write_text(after, encoding="utf-8")
    diff = unified_diff(args["path"], before, after)
    return Observation(
        f"Edited {args['path']} ({count} replacement{'s' if count > 1 else ''}).",
        data={"path": args["path"], "diff": diff},
    )


READ_FILE = Tool(
    "read_file",
    "Read a text file from the workspace. Lines are numbered; use offset/limit for long files.",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Path relative to the workspace root."},
            "offset": {"type": "integer", "description": "First line to read (1-based)."},
            "limit": {"type": "integer", "description": f"Number of lines (at most {MAX_READ_LINES})."},
        },
        "required": ["path"],
    },
    read_file,
)
WRITE_FILE = Tool(
    "write_file",
    "Create or overwrite a file with the given content. Parent directories are created.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
    write_file,
    mutates=True,
)
EDIT_FILE = Tool(
    "edit_file",
    "Replace an exact string in a file. old_string must occur exactly once unless replace_all is true.",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "old_string": {"type": "string", "description": "Exact text to replace, whitespace included."},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean", "default": False},
        },
        "required": ["path", "old_string", "new_string"],
    },
    edit_file,
    mutates=True,
)
