"""How an annotated workspace compares with the task's reference patch: the files each touched and how far
they overlap, and the repository's own tests when a test command is given. A hint for the annotator before
labelling (the agent may well solve a task another way), and a record in the recording for curation."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from sii.tasks.from_git import git
from sii.tasks.pool import Task

TEST_TIMEOUT_S = 900
OUTPUT_TAIL = 4000  # characters of the test output kept in the record


@dataclass
class Comparison:
    reference_files: list[str]
    touched_files: list[str]
    overlap: list[str]
    recall: float | None  # share of the reference's files the workspace touched
    precision: float | None  # share of the touched files the reference touched too
    test_command: str | None = None
    test_exit: int | None = None
    test_output: str = field(default="", repr=False)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def touched_files(workspace: Path, base: str) -> list[str]:
    """Files changed since `base`: commits, staged and unstaged edits, and new untracked files."""
    changed = git(workspace, "diff", "--name-only", "--no-renames", base).splitlines()
    new = git(workspace, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({name for name in changed + new if name})


def run_tests(workspace: Path, command: str) -> tuple[int, str]:
    try:
        result = subprocess.run(
            command, shell=True, cwd=workspace, capture_output=True, text=True, timeout=TEST_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:  # its partial output is bytes even under text=True
        partial = (exc.stdout or b"") + (exc.stderr or b"")
        shown = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        return 124, f"timed out after {TEST_TIMEOUT_S}s\n{shown[-OUTPUT_TAIL:]}"
    return result.returncode, (result.stdout + result.stderr)[-OUTPUT_TAIL:]


def compare(task: Task, workspace: Path, test_command: str | None = None) -> Comparison:
    reference = sorted(task.files)
    touched = touched_files(workspace, task.parent) if task.parent else []
    overlap = sorted(set(reference) & set(touched))
    comparison = Comparison(
        reference_files=reference,
        touched_files=touched,
        overlap=overlap,
        recall=len(overlap) / len(reference) if reference else None,
        precision=len(overlap) / len(touched) if touched else None,
        test_command=test_command,
    )
    if test_command:
        comparison.test_exit, comparison.test_output = run_tests(workspace, test_command)
    return comparison


def render(comparison: Comparison, console: Console) -> None:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    console.print(Text("Compared with the reference patch:", "bold"))
    console.print(f"  reference files: {', '.join(comparison.reference_files) or '-'}", highlight=False)
    console.print(f"  touched files:   {', '.join(comparison.touched_files) or '-'}", highlight=False)
    console.print(
        f"  overlap: {len(comparison.overlap)} file(s) · recall {share(comparison.recall)} · "
        f"precision {share(comparison.precision)}",
        highlight=False,
    )
    if comparison.test_command:
        passed = comparison.test_exit == 0
        verdict = Text("passed" if passed else f"failed (exit {comparison.test_exit})", "green" if passed else "red")
        console.print(Text.assemble(f"  tests `{comparison.test_command}`: ", verdict))
        if not passed:
            console.print(Text(comparison.test_output[-1500:], "dim"))
