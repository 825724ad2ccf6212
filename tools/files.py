"""File tools confined to the workspace: read_file, list_directory, write_file, edit_file, apply_patch and
undo_edit. Every write is reported as a unified diff and can be undone within the session."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import IO, Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.listing import git_listed_files
from tools.patch import UpdateFile, apply_operations, parse_patch, split_lines, touched_paths
from tools.schema import boolean, integer, obj, string
from tools.text import clip

MAX_READ_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_READ_CHARS = 100_000
MAX_READ_BYTES = 5 * 1024 * 1024
MAX_UNDO_PER_FILE = 50
LIST_DEFAULT_DEPTH, LIST_MAX_DEPTH, LIST_MAX_ENTRIES = 2, 5, 500
SKIPPED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache"})
MEDIA_SUFFIXES = {
    ".png": "PNG image",
    ".jpg": "JPEG image",
    ".jpeg": "JPEG image",
    ".gif": "GIF image",
    ".webp": "WebP image",
    ".bmp": "BMP image",
    ".ico": "ICO image",
    ".pdf": "PDF document",
}
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"\x00\x00\x01\x00", "ICO image"),
)


def unified_diff(path: str, before: str, after: str, new_path: str | None = None) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{new_path or path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def _media_kind(name: str, head: bytes) -> str | None:
    """Images and PDFs are recognised by extension or magic bytes, so they are never dumped as text."""
    if kind := MEDIA_SUFFIXES.get(os.path.splitext(name)[1].lower()):
        return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":
        return "BMP image"
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def _decode(raw: bytes, shown: str) -> str:
    if b"\0" in raw[:8192]:
        raise ToolError(f"{shown} is a binary file ({len(raw)} bytes); it is not shown")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{shown} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read_text(ctx: ToolContext, shown: str) -> str:
    return _decode(ctx.read_bytes(shown), shown)


def _stream_lines(handle: IO[bytes], size: int, shown: str) -> Iterator[str]:
    """Lines of a file too large to load whole, decoded one at a time."""
    if b"\0" in handle.read(8192):
        raise ToolError(f"{shown} is a binary file ({_human(size)}); it is not shown")
    handle.seek(0)
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8").removesuffix("\n")
        except UnicodeDecodeError as exc:
            raise ToolError(f"{shown} is not UTF-8 text ({exc.reason} on line {number})") from exc


def _page(lines: Iterable[str], offset: int, limit: int) -> tuple[list[str], bool]:
    """Numbered lines from `offset`, stopping at `limit` lines or MAX_READ_CHARS; True if lines remain."""
    numbered: list[str] = []
    used = 0
    for number, line in enumerate(islice(lines, offset - 1, None), start=offset):
        entry = f"{number:6}\t{clip(line.removesuffix(chr(13)), MAX_LINE_CHARS)}"
        if len(numbered) >= limit or (numbered and used + len(entry) > MAX_READ_CHARS):
            return numbered, True
        numbered.append(entry)
        used += len(entry) + 1
    return numbered, False


def read_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    shown = args["path"]
    offset = max(int(args.get("offset", 1)), 1)
    limit = max(min(int(args.get("limit", MAX_READ_LINES)), MAX_READ_LINES), 1)
    with ctx.open_read(shown) as handle:
        size = os.fstat(handle.fileno()).st_size
        if kind := _media_kind(shown, handle.read(16)):
            raise ToolError(
                f"{shown} is a {kind} ({_human(size)}); read_file shows text only. "
                "Inspect it with run_shell (e.g. `file`, `identify`, `pdftotext`) if you need its details."
            )
        handle.seek(0)
        total: int | None = None
        if size <= MAX_READ_BYTES:
            whole = split_lines(_decode(handle.read(), shown))[0]
            lines: Iterable[str] = whole
            total = len(whole)
        elif "offset" in args or "limit" in args:
            lines = _stream_lines(handle, size, shown)
        else:
            raise ToolError(
                f"{shown} is {_human(size)}, over the {_human(MAX_READ_BYTES)} read_file loads whole. Pass offset "
                "and limit to read a range of lines, or use run_shell with head, tail or grep."
            )
        numbered, more = _page(lines, offset, limit)
    body = "\n".join(numbered) if numbered else "(no lines in this range)"
    if more:
        end = offset - 1 + len(numbered)
        of = f"of {total}" if total is not None else f"of a {_human(size)} file"
        body += f"\n[truncated: showing lines {offset}-{end} {of}; use offset={end + 1} to read on]"
    return Observation(body, data={"path": shown, "lines": total})


def record_undo(ctx: ToolContext, relative: str, before: str | None) -> None:
    """Remember a file's content before a write (None: it did not exist) so undo_edit can restore it; the key
    is the canonical workspace-relative path, so two spellings of one file share one history."""
    stack = ctx.undo.setdefault(relative, [])
    stack.append(before)
    del stack[:-MAX_UNDO_PER_FILE]


def _store(ctx: ToolContext, path: str, content: str | None) -> None:
    """Write `content` byte for byte (no newline translation), or delete the file when it is None."""
    if content is None:
        ctx.unlink(path)
    else:
        ctx.write_bytes(path, content.encode("utf-8"))


def _existing_text(ctx: ToolContext, path: str) -> str | None:
    return None if ctx.stat(path) is None else _read_text(ctx, path)


@dataclasses.dataclass(frozen=True)
class Change:
    """What an edit would do, worked out before anything is written, so the same plan is shown to the person
    approving it and then made: each file's text before and after (None: absent) by canonical workspace path,
    and the observation once it is made (its data holds the diff)."""

    before: dict[str, str | None]
    after: dict[str, str | None]
    text: str
    data: dict[str, Any]


def _make(change: Change, ctx: ToolContext) -> Observation:
    """Write what the plan changes (all or nothing) and remember each file's old text for undo_edit."""
    changed = {path: content for path, content in change.after.items() if content != change.before[path]}
    _store_all(ctx, change.before, changed)
    for path in changed:
        record_undo(ctx, path, change.before[path])
    return Observation(change.text, data=change.data)


def _previewer(
    plan: Callable[[dict[str, Any], ToolContext], Change],
) -> Callable[[dict[str, Any], ToolContext], str | None]:
    def preview(args: dict[str, Any], ctx: ToolContext) -> str | None:
        try:
            return plan(args, ctx).data.get("diff") or None
        except (ToolError, OSError, KeyError, TypeError, ValueError):
            return None  # the call will fail and say why when it runs

    return preview


def _plan_write(args: dict[str, Any], ctx: ToolContext) -> Change:
    shown, content = args["path"], args["content"]
    before = _existing_text(ctx, shown)
    diff = unified_diff(shown, before or "", content)
    verb = "Created" if before is None else "Updated"
    relative = ctx.locate(shown)
    return Change({relative: before}, {relative: content}, f"{verb} {shown}.", {"path": shown, "diff": diff})


def write_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    return _make(_plan_write(args, ctx), ctx)


def _nearest_lines(text: str, needle: str) -> str:
    first = needle.strip().splitlines()[0] if needle.strip() else needle
    close = difflib.get_close_matches(first, text.splitlines(), n=3, cutoff=0.5)
    return "; nearest lines: " + " | ".join(repr(line) for line in close) if close else ""


def _occurrences(text: str, needle: str) -> int:
    """Occurrences including overlapping ones: "aa" in "aaa" is ambiguous, though str.count says 1."""
    count, at = 0, text.find(needle)
    while needle and at != -1:
        count, at = count + 1, text.find(needle, at + 1)
    return count


def _plan_edit(args: dict[str, Any], ctx: ToolContext) -> Change:
    shown = args["path"]
    before = _read_text(ctx, shown)
    old, new = args["old_string"], args["new_string"]
    if old == new:
        raise ToolError("old_string and new_string are identical; nothing to change")
    found = _occurrences(before, old)
    if found == 0:
        raise ToolError(f"old_string was not found in {shown}{_nearest_lines(before, old)}")
    if found > 1 and not args.get("replace_all"):
        raise ToolError(
            f"old_string occurs {found} times in {shown}; add surrounding lines to make it unique "
            "or set replace_all to true"
        )
    count = before.count(old)
    after = before.replace(old, new)
    relative = ctx.locate(shown)
    text = f"Edited {shown} ({count} replacement{'s' if count > 1 else ''})."
    return Change(
        {relative: before}, {relative: after}, text, {"path": shown, "diff": unified_diff(shown, before, after)}
    )


def edit_file(args: dict[str, Any], ctx: ToolContext) -> Observation:
    return _make(_plan_edit(args, ctx), ctx)


def _plan_undo(args: dict[str, Any], ctx: ToolContext) -> Change:
    shown = args["path"]
    relative = ctx.locate(shown)
    stack = ctx.undo.get(relative)
    if not stack:
        raise ToolError(f"no edit of {shown} is recorded in this session; there is nothing to undo")
    info = ctx.stat(shown)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{shown} is now a directory; it is not replaced")
    current = None if info is None else ctx.read_bytes(shown).decode("utf-8", errors="replace")
    previous = stack[-1]
    diff = unified_diff(shown, current or "", previous or "")
    state = "deleted it (it did not exist before)" if previous is None else "restored its previous content"
    left = len(stack) - 1
    text = (
        f"Undid the last edit of {shown}: {state}. "
        f"{left} earlier edit{'s' if left != 1 else ''} of {shown} can still be undone."
    )
    return Change({relative: current}, {relative: previous}, text, {"path": shown, "diff": diff})


def undo_edit(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Unlike the other edits, undo consumes its history instead of adding to it."""
    change = _plan_undo(args, ctx)
    (relative,) = change.after
    _store(ctx, relative, change.after[relative])
    ctx.undo[relative].pop()
    return Observation(change.text, data=change.data)


def _workspace_relative(ctx: ToolContext, raw: str) -> str:
    """Normalise a patch path so that two spellings of one file are one key."""
    relative = ctx.locate(raw)
    if relative == ".":
        raise ToolError(f"path {raw!r} is the workspace root, not a file")
    return relative


def _confine(operation: Any, ctx: ToolContext) -> Any:
    changes = {"path": _workspace_relative(ctx, operation.path)}
    if isinstance(operation, UpdateFile) and operation.move_to:
        changes["move_to"] = _workspace_relative(ctx, operation.move_to)
    return dataclasses.replace(operation, **changes)


def _store_all(ctx: ToolContext, before: dict[str, str | None], changed: dict[str, str | None]) -> None:
    """Write every changed file; if one write fails, put back those already written so the patch stays atomic."""
    written: list[str] = []
    try:
        for relative, content in changed.items():
            written.append(relative)
            _store(ctx, relative, content)
    except (OSError, ToolError) as exc:
        for relative in written:
            with contextlib.suppress(OSError, ToolError):
                _store(ctx, relative, before[relative])
        raise ToolError(f"could not write {written[-1]} ({exc}); every file was restored") from exc


def _stats(diff: str) -> str:
    body = diff.splitlines()[2:]
    added = sum(line.startswith("+") for line in body)
    removed = sum(line.startswith("-") for line in body)
    return f"(+{added} -{removed})"


def _report(
    before: dict[str, str | None], after: dict[str, str | None], moves: dict[str, str]
) -> tuple[list[str], list[str]]:
    """One summary line and one diff per changed file; a move is reported once, from old path to new."""
    lines, diffs, done = [], [], set()
    for path in after:
        if path in done or after[path] == before[path]:
            continue
        if path in moves and after[path] is None:
            target = moves[path]
            done.add(target)
            diff = unified_diff(path, before[path] or "", after[target] or "", new_path=target)
            lines.append(f"  R {path} -> {target} {_stats(diff)}")
        else:
            diff = unified_diff(path, before[path] or "", after[path] or "")
            letter = "A" if before[path] is None else "D" if after[path] is None else "M"
            lines.append(f"  {letter} {path} {_stats(diff)}")
        diffs.append(diff)
    return lines, diffs


def _plan_patch(args: dict[str, Any], ctx: ToolContext) -> Change:
    try:
        operations = [_confine(operation, ctx) for operation in parse_patch(args["patch"])]
        before = {path: _existing_text(ctx, path) for path in touched_paths(operations)}
        after = apply_operations(operations, before)
    except ToolError as exc:
        raise ToolError(f"the patch was not applied and no file was changed: {exc}") from exc
    changed = [path for path, content in after.items() if content != before[path]]
    moves = {op.path: op.move_to for op in operations if isinstance(op, UpdateFile) and op.move_to}
    summary, diffs = _report(before, after, moves)
    text = "Applied the patch:\n" + "\n".join(summary) if summary else "The patch applied but changed nothing."
    return Change(before, after, text, {"diff": "".join(diffs), "files": changed})


def apply_patch(args: dict[str, Any], ctx: ToolContext) -> Observation:
    return _make(_plan_patch(args, ctx), ctx)


def _git_paths(ctx: ToolContext, target: str, depth: int) -> list[str]:
    """Files under `target` that git tracks or would track (ignored ones left out); [] outside a repository.
    git runs in the directory as held open, and entries are checked through the context (links not followed)."""
    with ctx.directory(target) as pinned:
        listed = git_listed_files(pinned, ctx.workspace) or []
    paths = []
    for path in listed:
        if path.count("/") >= depth or path.endswith("/"):
            paths.append(path)  # deeper than shown: only its directory appears, no need to stat it
        elif info := _entry_stat(ctx, f"{target}/{path}"):  # --cached lists deleted files too
            paths.append(path + "/" if stat.S_ISDIR(info.st_mode) else path)
    return paths


def _entry_stat(ctx: ToolContext, path: str) -> os.stat_result | None:
    """A listed entry's lstat; None where it is gone or lies where the context does not go (another mount)."""
    try:
        return ctx.stat(path, follow_symlinks=False)
    except ToolError:
        return None


def _walk_paths(ctx: ToolContext, target: str, depth: int) -> list[str]:
    """The fallback outside git: walk to `depth`, skipping VCS, dependency and cache directories."""
    paths = []
    for relative, dirnames, filenames in ctx.walk(target):
        dirnames[:] = [name for name in dirnames if name not in SKIPPED_DIRS]
        paths += [relative + name + "/" for name in dirnames]
        paths += [relative + name for name in filenames]
        if relative.count("/") + 1 >= depth:
            dirnames[:] = []
    return paths


def _tree(paths: list[str], depth: int) -> dict[str, Any]:
    """Nested dicts of names; a file is None, a directory a dict (left empty past `depth`)."""
    root: dict[str, Any] = {}
    for path in paths:
        parts = [part for part in path.split("/") if part]
        if not parts:
            continue
        node = root
        for part in parts[: min(len(parts), depth) - 1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        name = parts[min(len(parts), depth) - 1]
        if path.endswith("/") or len(parts) > depth:
            if node.get(name) is None:
                node[name] = {}
        else:
            node.setdefault(name, None)
    return root


def _render(node: dict[str, Any], indent: int = 0) -> Iterator[str]:
    for name in sorted(node):
        child = node[name]
        yield "  " * indent + name + ("/" if child is not None else "")
        if child:
            yield from _render(child, indent + 1)


def list_directory(args: dict[str, Any], ctx: ToolContext) -> Observation:
    shown = args.get("path") or "."
    target = ctx.locate(shown)
    info = ctx.stat(target)
    if info is None:
        raise ToolError(f"{shown} does not exist")
    if not stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{shown} is a file, not a directory; use read_file to read it")
    depth = min(max(int(args.get("depth", LIST_DEFAULT_DEPTH)), 1), LIST_MAX_DEPTH)
    entries = list(_render(_tree(_git_paths(ctx, target, depth) or _walk_paths(ctx, target, depth), depth)))
    text = "\n".join(entries[:LIST_MAX_ENTRIES]) if entries else "(empty directory)"
    if len(entries) > LIST_MAX_ENTRIES:
        text += (
            f"\n[... {len(entries) - LIST_MAX_ENTRIES} more entries not shown; "
            "list a subdirectory or use a smaller depth]"
        )
    return Observation(text, data={"path": shown, "entries": len(entries)})


def _path_written(args: dict[str, Any]) -> list[str]:
    return [args["path"]] if isinstance(args.get("path"), str) else []


def _patch_paths_written(args: dict[str, Any]) -> list[str]:
    """Every path the patch adds, deletes, updates or moves to; none if it does not parse (nothing is applied)."""
    try:
        return touched_paths(parse_patch(args["patch"])) if isinstance(args.get("patch"), str) else []
    except ToolError:
        return []


PATH = string("Path relative to the workspace root.")
READ_FILE = Tool(
    "read_file",
    "Read a text file from the workspace. Lines are numbered; use offset/limit for long files. "
    f"Images, PDFs and files over {_human(MAX_READ_BYTES)} (unless offset/limit are given) are refused.",
    obj(
        path=PATH,
        offset=integer("First line to read (1-based)."),
        limit=integer(f"Number of lines (at most {MAX_READ_LINES})."),
        required=["path"],
    ),
    read_file,
)
LIST_DIRECTORY = Tool(
    "list_directory",
    "List a directory as an indented tree (directories end with '/'), leaving out git-ignored files.",
    obj(
        path=string("Directory relative to the workspace root (default '.')."),
        depth=integer(f"Levels to show (default 2, at most {LIST_MAX_DEPTH})."),
    ),
    list_directory,
)
WRITE_FILE = Tool(
    "write_file",
    "Create or overwrite a file with the given content. Parent directories are created.",
    obj(path=PATH, content=string(), required=["path", "content"]),
    write_file,
    mutates=True,
    edits_files=True,
    paths_written=_path_written,
    preview=_previewer(_plan_write),
)
EDIT_FILE = Tool(
    "edit_file",
    "Replace an exact string in a file. old_string must occur exactly once unless replace_all is true.",
    obj(
        path=PATH,
        old_string=string("Exact text to replace, whitespace included."),
        new_string=string(),
        replace_all=boolean(default=False),
        required=["path", "old_string", "new_string"],
    ),
    edit_file,
    mutates=True,
    edits_files=True,
    paths_written=_path_written,
    preview=_previewer(_plan_edit),
)
APPLY_PATCH = Tool(
    "apply_patch",
    "Add, delete, update and move several files in one atomic patch; if any hunk does not match, nothing "
    "changes. Format:\n*** Begin Patch\n*** Update File: path/a.py\n*** Move to: path/b.py  (optional)\n"
    "@@ def f():  (optional line just above the hunk)\n unchanged line\n-removed line\n+added line\n"
    "*** Add File: path/new.py\n+first line\n*** Delete File: path/old.py\n*** End Patch\n"
    "Give about 3 unchanged context lines around each change, copied exactly.",
    obj(patch=string("The whole patch text."), required=["patch"]),
    apply_patch,
    mutates=True,
    edits_files=True,
    paths_written=_patch_paths_written,
    preview=_previewer(_plan_patch),
)
UNDO_EDIT = Tool(
    "undo_edit",
    "Undo the last write_file, edit_file or apply_patch change to a file in this session (a file that was "
    "created is deleted). Call again to go further back.",
    obj(path=PATH, required=["path"]),
    undo_edit,
    mutates=True,
    edits_files=True,
    paths_written=_path_written,
    preview=_previewer(_plan_undo),
)
