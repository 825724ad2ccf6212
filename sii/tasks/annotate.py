"""`sii annotate`: claim the next reviewed task, prepare a clean workspace for it (a git worktree of its source
repository at the change's parent), and work on it with the agent in the REPL, the query as the first
message. Every session of the attempt carries a `task` record; when the REPL ends, the workspace is compared
with the reference patch (recorded too), the annotator confirms the label, and the task's status follows it:
solved on success, open again otherwise (its recordings stay linked)."""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from recordings.store import RecordingWriter, read_trajectory
from sii.config import Settings, sii_home
from sii.session import Session, session_redactor
from sii.tasks.compare import compare, render
from sii.tasks.from_git import git
from sii.tasks.pool import Pool, Task, TaskError, find
from sii.tasks.review import Ask

RunSession = Callable[[Settings, str, Callable[[Session], None]], int]  # (settings, first message, on_session)
LABELS = {"s": "success", "f": "fail", "u": "unknown"}


def run_in_repl(settings: Settings, query: str, on_session: Callable[[Session], None]) -> int:
    from sii.repl import run_repl

    return run_repl(settings, first_message=query, on_session=on_session)


def claim(pool: Pool, task_id: str | None = None) -> Task:
    """Mark a task claimed: the one asked for (even if a crashed attempt left it claimed), else the oldest
    open reviewed task."""
    with pool.editing() as tasks:
        if task_id:
            task = find(tasks, task_id)
            if task.status in ("solved", "rejected"):
                raise TaskError(f"task {task.id} is {task.status}")
        else:
            next_open = next((t for t in tasks if t.status == "open" and t.reviewed), None)
            if next_open is None:
                waiting = sum(t.status == "open" and not t.reviewed for t in tasks)
                hint = f"; {waiting} await `sii tasks review`" if waiting else ""
                raise TaskError(f"no open reviewed task in {pool.path}{hint}")
            task = next_open
        task.status, task.claimed_by, task.claimed_at = (
            "claimed",
            f"{getpass.getuser()}@{socket.gethostname()}",
            time.time(),
        )
    return task


def prepare_workspace(task: Task, home: Path) -> Path:
    """`$SII_HOME/annotate/<task>`, fresh: a detached worktree of the task's repository at its parent commit,
    or an empty folder for a task without a repository. A previous attempt's workspace is replaced."""
    path = home / "annotate" / task.id
    if task.repo:
        repo = Path(task.repo)
        if path.exists():
            with contextlib.suppress(TaskError):  # not a worktree (any more): the folder goes all the same
                git(repo, "worktree", "remove", "--force", str(path))
            shutil.rmtree(path, ignore_errors=True)
            git(repo, "worktree", "prune")
        path.parent.mkdir(parents=True, exist_ok=True)
        git(repo, "worktree", "add", "--detach", str(path), task.parent or "HEAD")
    else:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    return path


class Attempt:
    """Links each session the REPL opens to the task: a `task` record in its recording, its path in the pool."""

    def __init__(self, pool: Pool, task: Task) -> None:
        self.pool, self.task = pool, task
        self.recordings: list[Path] = []

    def __call__(self, session: Session) -> None:
        task = self.task
        session.note(
            "task",
            sync=True,
            task_id=task.id,
            pool=self.pool.name,
            pool_path=str(self.pool.path),
            source=task.source,
            repo=task.repo,
            commit=task.commit,
            parent=task.parent,
            category=task.category,
        )
        self.recordings.append(session.recording_path)
        with self.pool.editing() as tasks:
            find(tasks, task.id).sessions.append(str(session.recording_path))


def conclude(
    task: Task,
    recording: Path,
    workspace: Path,
    settings: Settings,
    console: Console,
    ask: Ask,
    test_command: str | None,
) -> None:
    """Show (and record) the comparison with the reference, then let the annotator confirm or change the label."""
    current = read_trajectory(recording).meta.outcome
    writer = RecordingWriter(recording, redactor=session_redactor(settings))
    try:
        if task.parent or test_command:
            comparison = compare(task, workspace, test_command)
            render(comparison, console)
            writer.comparison(task_id=task.id, **comparison.record())
        keep = current or "leave unlabelled"
        try:
            answer = ask(f"label this attempt: [s]uccess / [f]ail / [u]nknown (Enter: {keep}) ", "")
        except EOFError:
            answer = ""
        outcome = LABELS.get(answer.strip().lower()[:1])
        if outcome and outcome != current:
            writer.label(outcome, "labelled after comparing with the reference")
    finally:
        writer.close()


def settle(pool: Pool, task_id: str, recordings: list[Path]) -> Task:
    """The task's status from its attempt's labels: solved when a session says success, else open again."""
    outcomes = [(path, read_trajectory(path)) for path in recordings if path.exists()]
    with pool.editing() as tasks:
        task = find(tasks, task_id)
        success = next((t.meta.session_id for _, t in outcomes if t.meta.outcome == "success"), None)
        if success:
            task.status, task.solved_by, task.note = "solved", success, None
        else:
            last = outcomes[-1][1].meta if outcomes else None
            task.status = "open"
            task.note = f"last attempt {last.session_id}: {last.outcome or 'unlabelled'}" if last else task.note
        task.claimed_by = task.claimed_at = None
    return task


def annotate(
    pool: Pool,
    settings_for: Callable[[Path], Settings],
    console: Console,
    ask: Ask,
    run_session: RunSession = run_in_repl,
    task_id: str | None = None,
    test_command: str | None = None,
) -> Task:
    """One annotation: claim, prepare, work, compare, label, settle. The claim is released whatever happens."""
    task = claim(pool, task_id)
    attempt = Attempt(pool, task)
    try:
        workspace = prepare_workspace(task, sii_home())
        settings = settings_for(workspace)
        console.print(Text(f"task {task.id} ({task.category or 'uncategorized'}) in {workspace}", "bold"))
        run_session(settings, task.query, attempt)
        if attempt.recordings:
            conclude(task, attempt.recordings[-1], workspace, settings, console, ask, test_command)
    finally:
        task = settle(pool, task.id, attempt.recordings)
    console.print(Text(f"task {task.id}: {task.status}", "green" if task.status == "solved" else "yellow"))
    return task
