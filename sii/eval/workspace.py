"""A fresh workspace per task run, plus an untouched copy of how it started, so judges can be shown exactly
what the agent changed (without putting a .git of ours into the agent's workspace)."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from sii.eval.tasks import Task

SKIPPED_DIRS = {".git", "__pycache__"}
DIFF_LIMIT = 20_000  # characters shown to a judge; the rest is cut with a note


def prepare(task: Task, root: Path, baseline: Path) -> None:
    """Copy the task's workspace folder (or nothing) into `root`, and `root` into `baseline`. Leftovers of a run
    killed before its report named them are replaced."""
    for folder in (root, baseline):
        shutil.rmtree(folder, ignore_errors=True)
    root.mkdir(parents=True)
    target = root / task.workspace_into
    if task.workspace is not None:
        shutil.copytree(task.workspace, target, symlinks=True, dirs_exist_ok=True)
    else:
        target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root, baseline, symlinks=True)


def _files(root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if not root.is_dir():
        return files
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and not SKIPPED_DIRS & set(relative.parts):
            files[relative.as_posix()] = path
    return files


def _lines(path: Path | None) -> list[str] | None:
    """The file's lines; [] when it does not exist; None when it is not text."""
    if path is None:
        return []
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (UnicodeDecodeError, OSError):
        return None


def workspace_diff(baseline: Path, root: Path, limit: int = DIFF_LIMIT) -> str:
    """A unified diff from `baseline` to `root` ('' when nothing changed), cut to `limit` characters."""
    before, after = _files(baseline), _files(root)
    parts: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old_path, new_path = before.get(name), after.get(name)
        if old_path and new_path and old_path.read_bytes() == new_path.read_bytes():
            continue
        old, new = _lines(old_path), _lines(new_path)
        if old is None or new is None:
            parts.append(f"Binary file {name} changed\n")
            continue
        source = f"a/{name}" if old_path else "/dev/null"
        target = f"b/{name}" if new_path else "/dev/null"
        diff = difflib.unified_diff(old, new, source, target)
        parts.extend(line if line.endswith("\n") else line + "\n" for line in diff)
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit] + f"\n[… diff cut: {len(text) - limit} more characters]\n"
