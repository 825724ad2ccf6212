"""`sii tasks progress`: how far a pool got, by category: tasks by status, and from the linked recordings the
tokens recorded and the time annotators spent (a session's start to its end; an unfinished one counts 0)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from recordings.store import read_trajectory
from sii.tasks.pool import STATUSES, Task

TOTAL = "all"


@dataclass
class Progress:
    tasks: int = 0
    open: int = 0
    claimed: int = 0
    solved: int = 0
    rejected: int = 0
    sessions: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, task: Task, tokens: int, seconds: float, sessions: int) -> None:
        self.tasks += 1
        setattr(self, task.status, getattr(self, task.status) + 1)
        self.sessions += sessions
        self.tokens += tokens
        self.seconds += seconds


def recorded(task: Task) -> tuple[int, float, int]:
    """Tokens, seconds and readable sessions of the task's recordings; moved or unreadable ones are skipped."""
    tokens, seconds, sessions = 0, 0.0, 0
    for name in task.sessions:
        try:
            trajectory = read_trajectory(Path(name))
        except (OSError, ValueError, KeyError):
            continue
        meta = trajectory.meta
        sessions += 1
        tokens += trajectory.token_count()
        seconds += max(0.0, meta.ended_at - meta.started_at) if meta.ended_at else 0.0
    return tokens, seconds, sessions


def progress(tasks: list[Task]) -> dict[str, Progress]:
    """Per category (None: 'uncategorized'), then the pool's total under 'all'."""
    rows: dict[str, Progress] = {}
    total = Progress()
    for task in tasks:
        numbers = recorded(task)
        rows.setdefault(task.category or "uncategorized", Progress()).add(task, *numbers)
        total.add(task, *numbers)
    return {**dict(sorted(rows.items())), TOTAL: total}


def table(rows: dict[str, Progress]) -> Table:
    grid = Table("category", "tasks", *STATUSES, "sessions", "tokens", "time")
    for category, row in rows.items():
        if category == TOTAL:
            grid.add_section()
        minutes = round(row.seconds / 60)
        grid.add_row(
            category,
            str(row.tasks),
            *(str(getattr(row, status)) for status in STATUSES),
            str(row.sessions),
            f"{row.tokens:,}",
            f"{minutes // 60}h{minutes % 60:02d}",
        )
    return grid
