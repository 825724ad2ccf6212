"""A generated task family with known answers, for closing the loop (teacher -> recordings -> fine-tune ->
held-out eval): small file tasks, each checked by the command judge, written in sii's own task format so
`sii eval run` replays them, each with the reference solution a scripted teacher plays.

Kinds: `create` (write a file with given content), `report` (read a value from a file, write it into another)
and `append` (add a line to a file, keeping the others). The train and held-out splits draw their file names
and values from disjoint halves of the vocabulary, so a held-out task never repeats a trained string: a model
passes it only by doing what the prompt says.
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("create", "report", "append")
# fmt: off
WORDS = (
    "amber", "azure", "basil", "birch", "cedar", "cobalt", "coral", "cider", "dune", "ember", "fern", "flint",
    "garnet", "ginger", "hazel", "indigo", "iris", "ivory", "jade", "juniper", "kelp", "lemon", "lilac", "linen",
    "maple", "marble", "mint", "moss", "nectar", "olive", "onyx", "opal", "pearl", "pepper", "pine", "plum",
    "quartz", "raven", "reed", "rose", "rust", "saffron", "sage", "sand", "slate", "sorrel", "spruce", "tansy",
    "teal", "thyme", "topaz", "umber", "velvet", "willow",
)
# fmt: on
FOLDERS = ("notes", "data", "docs", "out")
KEYS = ("colour", "owner", "region", "mode", "theme", "level")


@dataclass(frozen=True)
class Step:
    """One tool call of the reference solution."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class FamilyTask:
    id: str
    kind: str
    prompt: str
    checks: tuple[dict[str, str], ...]  # {"run", "name"}: the command judge's checks
    files: dict[str, str] = field(default_factory=dict)  # the starting workspace
    solution: tuple[Step, ...] = ()
    answer: str = ""  # the reference final reply

    def task_file(self) -> dict[str, Any]:
        """The task in sii's task format (see sii/eval/tasks.py)."""
        data: dict[str, Any] = {"name": self.id, "subtasks": [{"prompt": self.prompt, "checks": list(self.checks)}]}
        if self.files:
            data["workspace"] = "ws"
        return data


def _holds(path: str, lines: list[str]) -> dict[str, str]:
    """A check that `path` holds exactly `lines` (trailing newlines aside: `$(...)` drops them)."""
    expected = shlex.quote("\n".join(lines))
    return {
        "run": f'test -f {shlex.quote(path)} && test "$(cat -- {shlex.quote(path)})" = {expected}',
        "name": f"{path} holds exactly {' / '.join(lines)}",
    }


def _create(rng: random.Random, words: list[str], number: int) -> FamilyTask:
    path = f"{rng.choice(FOLDERS)}/{rng.choice(words)}.txt"
    line = f"{rng.choice(words)} {rng.randint(10, 99)}"
    return FamilyTask(
        f"create-{number:02d}",
        "create",
        f"Create the file {path} containing exactly this line: {line}",
        (_holds(path, [line]),),
        solution=(Step("write_file", {"path": path, "content": line + "\n"}),),
        answer=f"Created {path}.",
    )


def _report(rng: random.Random, words: list[str], number: int) -> FamilyTask:
    source = f"{rng.choice(words)}.ini"
    keys = rng.sample(KEYS, 3)
    values = rng.sample(words, 3)
    key, value = keys[1], values[1]
    answer_file = f"{rng.choice(words)}.txt"
    config = "".join(f"{k} = {v}\n" for k, v in zip(keys, values, strict=True))
    return FamilyTask(
        f"report-{number:02d}",
        "report",
        f"Read {source} and write the value of {key} into {answer_file}, nothing else.",
        (_holds(answer_file, [value]),),
        files={source: config},
        solution=(
            Step("read_file", {"path": source}),
            Step("write_file", {"path": answer_file, "content": value + "\n"}),
        ),
        answer=f"{answer_file} holds {value}, the value of {key}.",
    )


def _append(rng: random.Random, words: list[str], number: int) -> FamilyTask:
    path = f"{rng.choice(words)}.txt"
    lines = rng.sample(words, 4)
    old, new = lines[:3], lines[3]
    return FamilyTask(
        f"append-{number:02d}",
        "append",
        f"Append the line {new} to {path}, keeping its current lines.",
        (_holds(path, [*old, new]),),
        files={path: "".join(f"{line}\n" for line in old)},
        solution=(
            Step("read_file", {"path": path}),
            Step("write_file", {"path": path, "content": "".join(f"{line}\n" for line in lines)}),
        ),
        answer=f"Appended {new} to {path}.",
    )


MAKERS = {"create": _create, "report": _report, "append": _append}


def generate(seed: int, train: int, heldout: int, kinds: tuple[str, ...] = KINDS) -> tuple[list, list]:
    """(train tasks, held-out tasks): kinds taken in turn, values from disjoint halves of WORDS."""
    rng = random.Random(seed)
    vocabulary = list(WORDS)
    rng.shuffle(vocabulary)
    halves = vocabulary[::2], vocabulary[1::2]
    splits: tuple[list[FamilyTask], list[FamilyTask]] = ([], [])
    for words, count, tasks in zip(halves, (train, heldout), splits, strict=True):
        for number in range(count):
            tasks.append(MAKERS[kinds[number % len(kinds)]](rng, list(words), number))
    return splits


def tools_used(tasks: list[FamilyTask]) -> list[str]:
    """The tools the reference solutions call, in first use order: what a session needs to be offered."""
    return list(dict.fromkeys(step.tool for task in tasks for step in task.solution))


def write_tasks(tasks: list[FamilyTask], folder: Path) -> list[Path]:
    """Each task as `folder/<id>/task.json`, its starting files under `ws/`; returns the task files."""
    written = []
    for task in tasks:
        root = folder / task.id
        for name, text in task.files.items():
            (root / "ws" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "ws" / name).write_text(text)
        root.mkdir(parents=True, exist_ok=True)
        (root / "task.json").write_text(json.dumps(task.task_file(), indent=2) + "\n")
        written.append(root / "task.json")
    return written
