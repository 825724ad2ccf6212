"""The apply_patch format (Codex CLI / OpenAI): parsed and applied as pure functions, so a patch is checked
in full against in-memory contents before any file is touched."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tools.base import ToolError

BEGIN, END = "*** Begin Patch", "*** End Patch"
ADD, DELETE, UPDATE, MOVE = "*** Add File: ", "*** Delete File: ", "*** Update File: ", "*** Move to: "
END_OF_FILE = "*** End of File"
_RANGE = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")

FORMAT_HINT = (
    "Expected format:\n*** Begin Patch\n*** Update File: path\n@@ optional line that precedes the hunk\n"
    " context line\n-removed line\n+added line\n*** Add File: path\n+new line\n*** Delete File: path\n*** End Patch"
)


class PatchError(ToolError):
    """A patch that cannot be parsed or applied; the message tells the model what to fix."""


@dataclass(frozen=True)
class Chunk:
    """One hunk: `old` lines (context and removed) become `new` lines (context and added); `kept` pairs
    (index in new, index in old) mark context lines, which keep the file's own text when matched loosely."""

    context: str | None = None
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    kept: list[tuple[int, int]] = field(default_factory=list)
    end_of_file: bool = False


@dataclass(frozen=True)
class AddFile:
    path: str
    lines: list[str]


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class UpdateFile:
    path: str
    chunks: list[Chunk]
    move_to: str | None = None


Operation = AddFile | DeleteFile | UpdateFile


def split_lines(text: str) -> tuple[list[str], bool]:
    """Lines split on "\\n" only (as grep and editors count them), and whether the text ends with one."""
    if not text:
        return [], True
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return lines, True
    return lines, False


def join_lines(lines: list[str], trailing_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if trailing_newline else "") if lines else ""


def _is_header(line: str) -> bool:
    return line.startswith((ADD, DELETE, UPDATE))


def _header_path(line: str, prefix: str, number: int) -> str:
    path = line[len(prefix) :].strip()
    if not path:
        raise PatchError(f"patch line {number}: {prefix.strip()} needs a path")
    return path


def _hunk_context(line: str) -> str | None:
    """`@@ def f():` anchors the hunk after that line; a unified-diff range `@@ -1,2 +1,3 @@` is ignored."""
    ranged = _RANGE.match(line)
    rest = line[ranged.end() if ranged else 2 :].removeprefix(" ")
    return rest if rest.strip() else None


def _parse_update(body: list[str], start: int, path: str) -> tuple[UpdateFile, int]:
    """Parse the hunks of one Update File section; returns the operation and the index after it."""
    i, move_to = start, None
    if i < len(body) and body[i].startswith(MOVE):
        move_to = _header_path(body[i], MOVE, i + 2)
        i += 1
    chunks: list[Chunk] = []
    current = Chunk()
    while i < len(body) and not _is_header(body[i]):
        line = body[i]
        if line.startswith("@@"):
            if current.old or current.new:
                chunks.append(current)
            current = Chunk(context=_hunk_context(line))
        elif line.rstrip() == END_OF_FILE:
            chunks.append(dataclasses.replace(current, end_of_file=True))
            current = Chunk()
        elif line == "" or line[0] == " ":
            current.kept.append((len(current.new), len(current.old)))
            current.old.append(line[1:])
            current.new.append(line[1:])
        elif line[0] == "-":
            current.old.append(line[1:])
        elif line[0] == "+":
            current.new.append(line[1:])
        else:
            raise PatchError(
                f"patch line {i + 2}: unexpected line in the hunk for {path}: {line!r}; "
                "hunk lines start with ' ' (context), '-' (remove) or '+' (add)"
            )
        i += 1
    if current.old or current.new:
        chunks.append(current)
    if not chunks and move_to is None:
        raise PatchError(f"Update File: {path} has no hunks")
    return UpdateFile(path, chunks, move_to), i


def _parse_add(body: list[str], start: int, path: str) -> tuple[AddFile, int]:
    i, lines = start, []
    while i < len(body) and not _is_header(body[i]):
        line = body[i]
        if line and not line.startswith("+"):
            raise PatchError(f"patch line {i + 2}: every line of Add File: {path} must start with '+', got {line!r}")
        lines.append(line[1:])
        i += 1
    return AddFile(path, lines), i


def parse_patch(text: str) -> list[Operation]:
    """Parse a whole patch; raises PatchError naming the offending line."""
    lines = [line.removesuffix("\r") for line in text.strip().split("\n")]
    if lines[0].strip() != BEGIN:
        raise PatchError(f"the patch must start with '{BEGIN}'.\n{FORMAT_HINT}")
    if len(lines) < 2 or lines[-1].strip() != END:
        raise PatchError(f"the patch must end with '{END}'.\n{FORMAT_HINT}")
    body, i = lines[1:-1], 0
    operations: list[AddFile | DeleteFile | UpdateFile] = []
    operation: AddFile | DeleteFile | UpdateFile
    while i < len(body):
        line = body[i]
        if line.startswith(ADD):
            operation, i = _parse_add(body, i + 1, _header_path(line, ADD, i + 2))
        elif line.startswith(DELETE):
            operation, i = DeleteFile(_header_path(line, DELETE, i + 2)), i + 1
        elif line.startswith(UPDATE):
            operation, i = _parse_update(body, i + 1, _header_path(line, UPDATE, i + 2))
        elif not line.strip():
            i += 1
            continue
        else:
            raise PatchError(
                f"patch line {i + 2}: expected '{ADD}', '{DELETE}' or '{UPDATE}', got {line!r}.\n{FORMAT_HINT}"
            )
        operations.append(operation)
    if not operations:
        raise PatchError(f"the patch contains no file operations.\n{FORMAT_HINT}")
    return operations


def touched_paths(operations: list[Operation]) -> list[str]:
    """Every path a patch reads or writes, in order of first mention."""
    paths = [op.path for op in operations] + [op.move_to for op in operations if isinstance(op, UpdateFile)]
    return list(dict.fromkeys(path for path in paths if path))


Match = Callable[[str, str], bool]
_EXACT: Match = str.__eq__


def _rstripped(a: str, b: str) -> bool:
    return a.rstrip() == b.rstrip()


def _stripped(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _seek(lines: list[str], pattern: list[str], start: int, at_end: bool, matchers: tuple[Match, ...]) -> int | None:
    """First index >= start where `pattern` matches, trying the strictest matcher over the whole file first."""
    last = len(lines) - len(pattern)
    candidates = ([last] if at_end and last >= start else []) + list(range(start, last + 1))
    for same in matchers:
        for i in candidates:
            if all(same(lines[i + k], want) for k, want in enumerate(pattern)):
                return i
    return None


def _nearest(lines: list[str], pattern: list[str]) -> str:
    """The region of the file that looks most like the hunk, numbered, to help the model fix it."""
    probe = next((line.strip() for line in pattern if line.strip()), "")
    stripped = [line.strip() for line in lines]
    close = difflib.get_close_matches(probe, stripped, n=1, cutoff=0.4) if probe else []
    if not close:
        return "(no similar lines in the file)"
    at = stripped.index(close[0]) - next(k for k, line in enumerate(pattern) if line.strip())
    start = max(at - 2, 0)
    window = lines[start : max(at, 0) + len(pattern) + 2]
    return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(window, start=start + 1))


def _mismatch(path: str, number: int, pattern: list[str], lines: list[str], what: str) -> PatchError:
    expected = "\n".join(f"  |{line}" for line in pattern)
    return PatchError(
        f"in {path}, hunk {number}: the {what} did not match the file:\n{expected}\n"
        f"Nearest lines in {path}:\n{_nearest(lines, pattern)}\n"
        "Re-read the file and send the patch again with context copied exactly."
    )


def _locate(path: str, number: int, lines: list[str], chunk: Chunk, cursor: int) -> tuple[int, int, list[str]]:
    """Where a chunk applies: (index, number of old lines replaced, new lines)."""
    if chunk.context is not None:
        found = _seek(lines, [chunk.context], cursor, False, (_EXACT, _rstripped, _stripped))
        if found is None:
            raise _mismatch(path, number, [chunk.context], lines, "@@ context line")
        cursor = found + 1
    old, new = chunk.old, chunk.new
    found = _seek(lines, old, cursor, chunk.end_of_file, (_EXACT, _rstripped)) if old else None
    if old and found is None and old[-1] == "" and new and new[-1] == "":
        # A blank line left between hunks reads as an empty context line; retry without it.
        old, new = old[:-1], new[:-1]
        found = _seek(lines, old, cursor, chunk.end_of_file, (_EXACT, _rstripped)) if old else None
    if not old:
        return (cursor if chunk.context is not None else len(lines)), 0, new
    if found is None:
        raise _mismatch(path, number, chunk.old, lines, "hunk")
    new = list(new)
    for n, o in chunk.kept:
        if n < len(new) and o < len(old):
            new[n] = lines[found + o]  # a context line keeps the file's own text, trailing spaces included
    return found, len(old), new


def apply_chunks(path: str, text: str, chunks: list[Chunk]) -> str:
    """Apply the hunks of one file in order; each searches after the previous one."""
    crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")
    lines, trailing_newline = split_lines(text.replace("\r\n", "\n") if crlf else text)
    replacements, cursor = [], 0
    for number, chunk in enumerate(chunks, start=1):
        start, length, new = _locate(path, number, lines, chunk, cursor)
        replacements.append((start, length, new))
        cursor = start + length
    for start, length, new in reversed(replacements):
        lines[start : start + length] = new
    result = join_lines(lines, trailing_newline)
    return result.replace("\n", "\r\n") if crlf else result


def apply_operations(operations: list[Operation], files: Mapping[str, str | None]) -> dict[str, str | None]:
    """New contents (None: deleted) of every touched path, given their current contents (None: absent)."""
    result = dict(files)
    for op in operations:
        current = result.get(op.path)
        if isinstance(op, AddFile):
            if current is not None:
                raise PatchError(f"Add File: {op.path} already exists; use Update File to change it")
            result[op.path] = join_lines(op.lines, True)
            continue
        if current is None:
            verb = "Delete" if isinstance(op, DeleteFile) else "Update"
            raise PatchError(f"{verb} File: {op.path} does not exist")
        if isinstance(op, DeleteFile):
            result[op.path] = None
            continue
        updated = apply_chunks(op.path, current, op.chunks)
        if op.move_to and op.move_to != op.path:
            if result.get(op.move_to) is not None:
                raise PatchError(f"Move to: {op.move_to} already exists; delete it first or choose another path")
            result[op.path], result[op.move_to] = None, updated
        else:
            result[op.path] = updated
    return result
