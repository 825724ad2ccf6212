"""From a repository's history to new tasks in a pool: mine the changes, have the model write each one's
request, and drop what the pool already has (the same commit, a duplicate query, see `dedupe`) or what gives
the patch away. New tasks wait for review."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sii.tasks.dedupe import duplicate_of
from sii.tasks.from_git import Change, char_tokens, mine
from sii.tasks.pool import Pool, Task, new_task_id
from sii.tasks.querygen import QueryWriter, leaks


@dataclass
class Harvest:
    added: list[Task] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (commit, why)


def task_of(repo: Path, change: Change, query: str) -> Task:
    return Task(
        id=new_task_id(),
        query=query,
        source="git",
        category=change.category,
        difficulty=change.difficulty,
        repo=str(repo),
        commit=change.commit,
        parent=change.parent,
        message=change.message,
        patch=change.patch,
        files=change.files,
        reviewed=False,
    )


def harvest(
    pool: Pool,
    repo: Path,
    writer: QueryWriter,
    revision_range: str | None = None,
    count: Callable[[str], int] = char_tokens,
    max_tokens: int = 1200,
    categories: set[str] | None = None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> Harvest:
    """Add the tasks of `repo`'s range to `pool`. The model is asked one change at a time, and each task is
    saved as soon as it is written, so an interrupted run keeps what it did and a rerun skips it."""
    repo = repo.resolve()
    result = Harvest()
    for item in mine(repo, revision_range, count, max_tokens, categories):
        if not isinstance(item, Change):
            result.dropped.append(item)
            continue
        existing = pool.tasks()
        if any(task.repo == str(repo) and task.commit == item.commit for task in existing):
            result.dropped.append((item.commit, "already in the pool"))
            continue
        on_progress(f"writing the request for {item.commit[:10]} ({item.category})")
        query = writer.write(item)
        if not query:
            result.dropped.append((item.commit, "the model wrote no request"))
            continue
        if leaks(query, item.patch):
            result.dropped.append((item.commit, "the request gives the patch away"))
            continue
        if twin := duplicate_of(query, [(task.id, task.query) for task in existing if task.status != "rejected"]):
            result.dropped.append((item.commit, f"near-duplicate of task {twin}"))
            continue
        task = task_of(repo, item, query)
        with pool.editing() as tasks:
            tasks.append(task)
        result.added.append(task)
    return result
