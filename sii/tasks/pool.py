"""Task pools: one JSONL file per pool under `$SII_HOME/tasks/`, one task a line. Pools are small (LIMI used 78
queries), so every change rewrites the file whole, atomically and under a lock: two annotators never claim the
same task, and a crash never leaves half a pool."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sii.config import sii_home

STATUSES = ("open", "claimed", "solved", "rejected")
DEFAULT_POOL = "default"


class TaskError(ValueError):
    """A pool, task or source repository cannot be used as asked; str() says why."""


def new_task_id() -> str:
    return "t" + secrets.token_hex(4)


@dataclass
class Task:
    """One query to solve, where it came from, and how far it got."""

    id: str
    query: str
    source: str = "hand"  # "hand": written by a developer; "git": mined from a repository's history
    category: str | None = None
    difficulty: str | None = None
    repo: str | None = None  # the source repository, a local path
    commit: str | None = None  # the change; a merge commit stands for its whole PR
    parent: str | None = None  # where the workspace starts: the change's first parent (or the ref to start at)
    message: str | None = None  # the commit message
    patch: str | None = None  # the reference patch, parent..commit
    files: list[str] = field(default_factory=list)  # the files the reference patch touches
    status: str = "open"
    reviewed: bool = True  # mined tasks wait for a human's review before anyone annotates them
    original_query: str | None = None  # what the model wrote, when a reviewer edited it
    note: str | None = None  # why it was rejected, or how the last attempt ended
    claimed_by: str | None = None
    claimed_at: float | None = None
    sessions: list[str] = field(default_factory=list)  # the recordings of every attempt
    solved_by: str | None = None  # the session whose label said success
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise TaskError(f"unknown task field(s): {', '.join(sorted(unknown))}")
        if not isinstance(data.get("query"), str) or not data["query"].strip():
            raise TaskError("a task needs a non-empty query")
        if data.get("status", "open") not in STATUSES:
            raise TaskError(f"status must be one of {', '.join(STATUSES)}, not {data['status']!r}")
        return cls(**{"id": new_task_id(), **data})


def pool_path(name: str) -> Path:
    """A pool by name (`$SII_HOME/tasks/NAME.jsonl`), or by path when NAME looks like one."""
    if "/" in name or name.endswith(".jsonl"):
        return Path(name).expanduser()
    return sii_home() / "tasks" / f"{name}.jsonl"


class Pool:
    """The tasks of one pool file. Read with `tasks()`; change inside `with pool.editing() as tasks:`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem

    @classmethod
    def named(cls, name: str | None) -> Pool:
        return cls(pool_path(name or DEFAULT_POOL))

    def tasks(self) -> list[Task]:
        if not self.path.exists():
            return []
        tasks = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                tasks.append(Task.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TaskError, TypeError) as exc:
                raise TaskError(f"{self.path} line {number} is not a task: {exc}") from exc
        return tasks

    @contextmanager
    def editing(self) -> Iterator[list[Task]]:
        """The pool's tasks, locked against other writers; the list as left is written back on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tasks = self.tasks()
            yield tasks
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            partial.write_text("".join(json.dumps(t.to_dict(), ensure_ascii=False) + "\n" for t in tasks))
            partial.replace(self.path)

    def get(self, task_id: str) -> Task:
        return find(self.tasks(), task_id)


def find(tasks: list[Task], task_id: str) -> Task:
    """The task with this id or unique id prefix."""
    matches = [task for task in tasks if task.id.startswith(task_id)]
    if len(matches) != 1:
        problem = "no task" if not matches else f"{len(matches)} tasks"
        raise TaskError(f"{problem} match {task_id!r}")
    return matches[0]
