"""The loop's task family: splits that share no value, tasks `sii eval run` replays, and checks that pass the
reference solution and fail the near misses a model makes (against the scripted server, the real judge)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sii.eval.family import FOLDERS, KEYS, KINDS, WORDS, FamilyTask, Step, generate, tools_used, write_tasks
from sii.eval.tasks import load_tasks
from tests.scripted_server import Reply, ScriptedServer, call
from tests.test_eval import eval_cli, report_of


def words_in(tasks: list[FamilyTask]) -> set[str]:
    found = {word for task in tasks for word in re.findall(r"[a-z]+", task.prompt)}
    return found & set(WORDS) - set(KEYS) - set(FOLDERS)


def test_splits_share_no_value_and_cycle_the_kinds() -> None:
    train, heldout = generate(seed=3, train=12, heldout=9)
    assert [t.kind for t in train[:3]] == list(KINDS) and {t.kind for t in heldout} == set(KINDS)
    assert len({t.id for t in train}) == 12 and len({t.id for t in heldout}) == 9
    assert words_in(train) and words_in(heldout) and not words_in(train) & words_in(heldout)
    heldout_values = {w for t in heldout for s in t.solution for w in re.findall(r"[a-z]+", json.dumps(s.arguments))}
    assert not heldout_values & words_in(train)
    assert generate(seed=3, train=12, heldout=9) == (train, heldout)  # reproducible
    assert generate(seed=4, train=12, heldout=9)[0] != train
    assert tools_used(train) == ["write_file", "read_file"]
    assert tools_used([t for t in train if t.kind == "create"]) == ["write_file"]


def replay(steps: tuple[Step, ...] | list[Step], answer: str = "Done.") -> list[Reply]:
    return [Reply("", [call(step.tool, step.arguments)]) for step in steps] + [Reply(answer)]


def near_misses(task: FamilyTask) -> list[list[Step]]:
    """What a model gets wrong: nothing done, the wrong content, a stray extra line, the wrong file."""
    *head, last = task.solution
    content = last.arguments["content"]
    wrong = [
        [],
        [*head, Step("write_file", {**last.arguments, "content": content.upper()})],
        [*head, Step("write_file", {**last.arguments, "content": content + "extra\n"})],
        [*head, Step("write_file", {**last.arguments, "path": "other.txt"})],
    ]
    if task.kind == "append":  # the new line alone, the old ones lost
        wrong.append([Step("write_file", {**last.arguments, "content": content.splitlines()[-1] + "\n"})])
    return wrong


def test_reference_solutions_pass_and_near_misses_fail(scripted: ScriptedServer, tmp_path: Path) -> None:
    train, _ = generate(seed=1, train=3, heldout=0)
    folder = tmp_path / "tasks"
    files = write_tasks(train, folder)
    assert [t.id for t in load_tasks([folder])] == sorted(t.id for t in train)
    for task, path in zip(train, files, strict=True):
        exact = list(task.solution)
        *head, last = exact
        no_newline = [*head, Step("write_file", {**last.arguments, "content": last.arguments["content"][:-1]})]
        attempts = [exact, no_newline, *near_misses(task)]
        for number, steps in enumerate(attempts):
            scripted.script = replay(steps)
            run = tmp_path / f"run-{task.id}-{number}"
            assert eval_cli("run", path, "--rounds", "1", "--out", run, "--base-url", scripted.base_url) == 0
            (subtask,) = report_of(run)["tasks"][0]["subtasks"]
            assert subtask["status"] == ("passed" if number < 2 else "failed"), (task.id, steps)
        assert (path.parent / "ws").is_dir() == bool(task.files)


@pytest.mark.parametrize("kind", KINDS)
def test_a_task_file_is_sii_format_with_its_starting_files(kind: str, tmp_path: Path) -> None:
    (task, *_), _ = generate(seed=0, train=1, heldout=0, kinds=(kind,))
    (path,) = write_tasks([task], tmp_path)
    (loaded,) = load_tasks([path])
    assert loaded.id == task.id and loaded.subtasks[0].prompt == task.prompt
    assert [c.run for c in loaded.subtasks[0].checks] == [c["run"] for c in task.checks]
    for name, text in task.files.items():
        assert (path.parent / "ws" / name).read_text() == text
