"""The expert review of mined tasks (LIMI's QA step): each request beside its reference patch, and a human
accepts it, edits it or rejects it. Only reviewed tasks go to annotators. Input goes through `ask`, so the
same loop runs on prompt_toolkit in a terminal and on anything a test drives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from sii.tasks.pool import Pool, Task, find

Ask = Callable[[str, str], str]  # (prompt, default text) -> the answer; EOFError ends the review
CHOICES = "[a]ccept / [e]dit / [r]eject / [s]kip / [q]uit: "


def prompt_toolkit_ask() -> Ask:
    from prompt_toolkit import PromptSession

    session: PromptSession[str] = PromptSession()
    return lambda message, default: session.prompt(message, default=default)


def show(task: Task, console: Console) -> None:
    source = f"{task.repo} @ {(task.commit or '')[:10]}" if task.source == "git" else task.source
    header = Text(f"{task.id} · {task.category or '-'} · {task.difficulty or '-'} · {source}", "bold")
    parts: list = [header, Text(task.query)]
    if task.message:
        parts.append(Text(f"commit message: {task.message}", "dim"))
    console.print(Panel(Group(*parts), title="request"))
    if task.patch:
        console.print(Syntax(task.patch, "diff", theme="ansi_dark", background_color="default"))


def decide(pool: Pool, task_id: str, answer: str, ask: Ask) -> str | None:
    """Apply one answer to one task; the decision's name, or None for skip. Asks for the edit or the reason."""
    choice = answer.strip().lower()[:1]
    if choice == "e":
        edited = ask("request: ", pool.get(task_id).query).strip()
        if not edited:
            return None
    elif choice == "r":
        reason = ask("why reject it? ", "").strip()
    elif choice != "a":
        return None
    with pool.editing() as tasks:
        task = find(tasks, task_id)
        task.reviewed = True
        if choice == "e" and edited != task.query:
            task.original_query = task.original_query or task.query
            task.query = edited
        if choice == "r":
            task.status, task.note = "rejected", reason or None
    return {"a": "accepted", "e": "edited", "r": "rejected"}[choice]


def review(pool: Pool, console: Console, ask: Ask) -> Counter[str]:
    """Go through the open tasks nobody reviewed yet; how many were accepted, edited, rejected and skipped."""
    counts: Counter[str] = Counter()
    waiting = [task for task in pool.tasks() if task.status == "open" and not task.reviewed]
    if not waiting:
        console.print(Text(f"nothing to review in {pool.name}", "dim"))
    for number, task in enumerate(waiting, 1):
        console.rule(f"{number}/{len(waiting)}")
        show(task, console)
        try:
            answer = ask(CHOICES, "")
            if answer.strip().lower().startswith("q"):
                break
            decision = decide(pool, task.id, answer, ask)
        except EOFError:
            break
        counts[decision or "skipped"] += 1
        console.print(Text(decision or "skipped", "green" if decision else "dim"))
    return counts
