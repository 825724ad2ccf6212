"""Eval tasks from the user's own checkout, in three formats, all loaded into one `Task` shape:

- AgencyBench v1: a JSON file `{"metadata": {"subtask_count", "categories"}, "query": "... Subtask k — ..."}`,
  with an optional `workspace/` folder beside it (copied as `workspace/` inside the agent's root, since v1
  prompts say "cd workspace"). Each subtask's "Success Criteria:" is its one requirement.
- AgencyBench v2: a scenario folder with `description.json` (`subtask_count`, `subtaskN` texts made of
  `Query:`, `Deliverables:` and `Rubric:` parts); the agent sees query and deliverables, the judge the rubric,
  weighted as in its "Final numeric grade" formula. `workspace/` (else `source/`) is the starting workspace.
- sii's own (YAML or JSON): `name`, optional `workspace` (a folder, relative to the file), optional `judge`,
  and `subtasks`, each a prompt string or `{prompt, checks, rubric, judge}`; a check is a shell command or
  `{run, name, weight}`, a rubric item a string or `{item, weight}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JUDGES = ("command", "llm", "human")
SII_TASK_KEYS = {"name", "description", "workspace", "judge", "subtasks"}
SII_SUBTASK_KEYS = {"prompt", "checks", "rubric", "judge"}
V1_HEADER = re.compile(r"^[ \t]*Subtask[ \t]+(\d+)\b", re.MULTILINE | re.IGNORECASE)
V1_CRITERIA = re.compile(r"Success Criteria\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)
V2_SECTION = re.compile(r"^(Query|Deliverables|Rubric)\s*:[ \t]*$", re.MULTILINE)
V2_WEIGHT = re.compile(r"(\d*\.?\d+)\s*\*\s*(Score_\w+)")
V2_SCORE_ID = re.compile(r"\((Score_\w+)\)")


class TaskError(ValueError):
    """A task file is malformed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Requirement:
    """One thing a judge checks. `run`: a shell command whose exit code 0 means met (command judge)."""

    text: str
    weight: float = 1.0
    run: str | None = None


@dataclass(frozen=True)
class Subtask:
    number: int  # 1-based, as the task numbers them
    prompt: str
    checks: tuple[Requirement, ...] = ()
    rubric: tuple[Requirement, ...] = ()
    judge: str | None = None  # overrides the task's and the command line's judge

    def requirements(self, judge: str) -> tuple[Requirement, ...]:
        """What `judge` grades: the command judge runs the checks; people and models read the rubric (or,
        without one, the checks; or, without either, the prompt itself)."""
        if judge == "command":
            return self.checks
        return self.rubric or self.checks or (Requirement("the subtask is done as asked"),)


@dataclass(frozen=True)
class Task:
    id: str
    source: Path  # the file or folder it was loaded from
    subtasks: tuple[Subtask, ...]
    workspace: Path | None = None  # a folder copied as the starting workspace
    workspace_into: str = ""  # where inside the agent's root that copy goes
    judge: str | None = None


def load_tasks(paths: list[Path]) -> list[Task]:
    """Every task in `paths` (files, scenario folders, or folders searched for both), ids unique."""
    tasks = [load_task(found) for path in paths for found in ([path] if path.is_file() else discover(path))]
    seen: dict[str, Path] = {}
    for task in tasks:
        if task.id in seen:
            raise TaskError(f"two tasks are named {task.id!r}: {seen[task.id]} and {task.source}")
        seen[task.id] = task.source
    if not tasks:
        raise TaskError(f"no tasks found in {', '.join(map(str, paths))}")
    return tasks


def discover(folder: Path) -> list[Path]:
    """Task files and v2 scenario folders under `folder`. Files are recognised by their content, so the
    YAML and JSON of a task's workspace (CI configs, data) are skipped."""
    if not folder.is_dir():
        raise TaskError(f"{folder} is neither a task file nor a folder")
    if (folder / "description.json").is_file():
        return [folder]
    found: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name not in ("workspace", "source") and not child.name.startswith("."):
            found += discover(child)
        elif child.suffix in (".json", ".yaml", ".yml") and _is_task_file(child):
            found.append(child)
    return found


def _is_task_file(path: Path) -> bool:
    try:
        data = _read_yaml(path) if path.suffix != ".json" else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and ("subtasks" in data or {"metadata", "query"} <= data.keys())


def load_task(path: Path) -> Task:
    path = path.resolve()
    if path.is_dir():
        return load_v2(path)
    if path.suffix in (".yaml", ".yml"):
        return load_sii(path, _read_yaml(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskError(f"cannot read {path}: {exc}") from exc
    if isinstance(data, dict) and "query" in data and "subtasks" not in data:
        return load_v1(path, data)
    return load_sii(path, data)


def _read_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise TaskError(f"{path} is YAML, and PyYAML is not installed; use JSON or `pip install pyyaml`") from exc
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"cannot read {path}: {exc}") from exc


def load_v1(path: Path, data: dict[str, Any]) -> Task:
    """Split the query at its "Subtask k" headers; the text before the first goes with subtask 1."""
    query = data.get("query")
    if not isinstance(query, str):
        raise TaskError(f"{path}: query must be a string")
    headers = list(V1_HEADER.finditer(query))
    numbers = [int(h.group(1)) for h in headers]
    metadata = data.get("metadata")
    expected = metadata.get("subtask_count", len(numbers)) if isinstance(metadata, dict) else len(numbers)
    if not headers or numbers != list(range(1, expected + 1)):
        raise TaskError(f"{path}: expected Subtask 1..{expected} headers in the query, found {numbers}")
    preamble = query[: headers[0].start()].strip()
    subtasks = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(query)
        part = query[header.start() : end].strip()
        criteria = V1_CRITERIA.search(part)
        requirement = criteria.group(1).strip() if criteria else f"Subtask {index + 1} is completed as described"
        prompt = f"{preamble}\n\n{part}" if index == 0 and preamble else part
        subtasks.append(Subtask(index + 1, prompt, rubric=(Requirement(requirement),)))
    workspace = path.parent / "workspace"
    return Task(
        id=path.stem,
        source=path,
        subtasks=tuple(subtasks),
        workspace=workspace if workspace.is_dir() else None,
        workspace_into="workspace",
    )


def load_v2(folder: Path) -> Task:
    path = folder / "description.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        count = int(data["subtask_count"])
        texts = [data[f"subtask{n}"] for n in range(1, count + 1)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TaskError(f"{path} is not an AgencyBench v2 description ({exc!r})") from exc
    subtasks = []
    for number, text in enumerate(texts, 1):
        parts = _v2_sections(text)
        prompt = "\n\n".join(f"{name}:\n{parts[name]}" for name in ("Query", "Deliverables") if name in parts)
        subtasks.append(Subtask(number, prompt or text.strip(), rubric=_v2_rubric(parts.get("Rubric", ""))))
    workspace = next((folder / name for name in ("workspace", "source") if (folder / name).is_dir()), None)
    return Task(id=f"{folder.parent.name}-{folder.name}", source=folder, subtasks=tuple(subtasks), workspace=workspace)


def _v2_sections(text: str) -> dict[str, str]:
    marks = list(V2_SECTION.finditer(text))
    return {
        mark.group(1): text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip()
        for i, mark in enumerate(marks)
    }


def _v2_rubric(text: str) -> tuple[Requirement, ...]:
    """Bullets become requirements, weighted by the coefficient of their Score_X in the grade formula."""
    weights = {name: float(value) for value, name in V2_WEIGHT.findall(text)}
    items = []
    for line in text.splitlines():
        item = line.strip().removeprefix("- ").strip()
        if not line.strip().startswith("- ") or item.lower().startswith("final numeric grade"):
            continue
        score_id = V2_SCORE_ID.search(item)
        items.append(Requirement(item, weights.get(score_id.group(1), 1.0) if score_id else 1.0))
    return tuple(items)


def load_sii(path: Path, data: Any) -> Task:
    if not isinstance(data, dict):
        raise TaskError(f"{path}: a task must be a mapping with a `subtasks` list")
    _known_keys(data, SII_TASK_KEYS, path)
    raw_subtasks = data.get("subtasks")
    if not isinstance(raw_subtasks, list) or not raw_subtasks:
        raise TaskError(f"{path}: `subtasks` must be a non-empty list")
    subtasks = tuple(_sii_subtask(item, number, path) for number, item in enumerate(raw_subtasks, 1))
    workspace = None
    if data.get("workspace") is not None:
        workspace = (path.parent / str(data["workspace"])).resolve()
        if not workspace.is_dir():
            raise TaskError(f"{path}: workspace {workspace} is not a folder")
    return Task(
        id=str(data.get("name") or path.stem),
        source=path,
        subtasks=subtasks,
        workspace=workspace,
        judge=_judge(data.get("judge"), path),
    )


def _sii_subtask(item: Any, number: int, path: Path) -> Subtask:
    where = f"{path}, subtask {number}"
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
        raise TaskError(f"{where}: needs a `prompt` string")
    _known_keys(item, SII_SUBTASK_KEYS, where)
    checks = tuple(_requirement(c, "run", where) for c in item.get("checks") or [])
    rubric = tuple(_requirement(r, "item", where) for r in item.get("rubric") or [])
    return Subtask(number, item["prompt"], checks, rubric, _judge(item.get("judge"), where))


def _requirement(value: Any, key: str, where: str) -> Requirement:
    """A check (`key` "run") or rubric item (`key` "item"): a string, or a mapping with a weight."""
    if isinstance(value, str):
        value = {key: value}
    if not isinstance(value, dict) or not isinstance(value.get(key), str):
        raise TaskError(f"{where}: each {'check' if key == 'run' else 'rubric item'} needs a `{key}` string")
    weight = value.get("weight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        raise TaskError(f"{where}: weight must be a positive number, not {weight!r}")
    text = value.get("name") or value[key]
    return Requirement(str(text), float(weight), value[key] if key == "run" else None)


def _judge(value: Any, where: object) -> str | None:
    if value is not None and value not in JUDGES:
        raise TaskError(f"{where}: judge must be one of {', '.join(JUDGES)}, not {value!r}")
    return value


def _known_keys(data: dict[str, Any], known: set[str], where: object) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise TaskError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
