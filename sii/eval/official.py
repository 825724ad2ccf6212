"""`sii eval run --official SCENARIO_DIR`: an AgencyBench v2 scenario run by its own, unmodified `eval_task.py`,
which drives sii through sii-agent-sdk (SII_BRIDGE_PATH points the SDK at sii's bridge). sii writes the
scenario's `.env` from its own settings, runs the harness, and reads the harness's `meta_eval.json` into a sii
report: the scenario's own 0-10 scores beside FTFC / SR@R / RC@R, comparable with `sii eval compare`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.store import recordings_dir
from recordings.strictjson import object_field
from sii.bridge import NODE_ENTRY
from sii.config import Settings, sii_home
from sii.eval.report import Attempt, RunReport, SubtaskResult, TaskResult

HARNESS = "eval_task.py"
DESCRIPTION = "description.json"
META_EVAL = "meta_eval.json"
ENV_FILE = ".env"
FULL_SCORE = 10.0  # v2 scores subtasks 0-10; its harness stops retrying at 9.9
PASS_SCORE = 9.9
# Variables the harness or the SDK read for the agent's server; the parent's values must not shadow the .env's.
AGENT_VARIABLES = (
    "SII_AGENT_API_BASE_URL",
    "SII_AGENT_API_KEY",
    "SII_TARGET_MODEL",
    "SII_AUTH_TYPE",
    "SII_OPENAI_BASE_URL",
    "SII_OPENAI_API_KEY",
    "SII_OPENAI_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)
# The SDK refuses USE_OPENAI without a key; a local server (vLLM) takes any.
NO_KEY = "EMPTY"


class OfficialError(Exception):
    """The scenario cannot be run or its results read; str() says why."""


@dataclass(frozen=True)
class Agent:
    """The server and model the harness's SDK session will use."""

    base_url: str
    model: str
    api_key: str | None


def check_scenario(folder: Path) -> Path:
    """The scenario folder, resolved, once it holds what a v2 scenario must."""
    folder = folder.expanduser().resolve()
    for name in (HARNESS, DESCRIPTION):
        if not (folder / name).is_file():
            raise OfficialError(f"{folder} is not an AgencyBench v2 scenario: it has no {name}")
    return folder


def env_values(agent: Agent, rounds: int, max_turns: int | None) -> dict[str, str]:
    """What the harness reads from `.env` (its EnvConfig) and passes on to the SDK."""
    key = agent.api_key or NO_KEY
    values = {
        "SII_AGENT_API_BASE_URL": agent.base_url,
        "SII_AGENT_API_KEY": key,
        "SII_TARGET_MODEL": agent.model,
        "SII_AUTH_TYPE": "USE_OPENAI",
        "SII_OPENAI_BASE_URL": agent.base_url,
        "SII_OPENAI_API_KEY": key,
        "SII_OPENAI_MODEL": agent.model,
        "MAX_SUBTASK_ATTEMPTS": str(rounds),
    }
    if max_turns is not None:
        values["SII_MAX_TURNS"] = str(max_turns)
    for name, value in values.items():  # the harness reads KEY=VALUE lines: a line break would add a key
        if not value or any(c in value for c in '\r\n\0"') or value != value.strip():
            raise OfficialError(f"{name} cannot be written to {ENV_FILE}: {value!r}")
    return values


def write_env(folder: Path, values: dict[str, str]) -> Path:
    """The scenario's `.env` with sii's values; its other lines (e.g. CONDA_ENV_NAME) are kept. Owner-only,
    since it holds the key."""
    path = folder / ENV_FILE
    if path.is_symlink():  # writing through it would put the key wherever it points
        raise OfficialError(f"{path} is a symbolic link; remove it and run again")
    kept = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.split("=", 1)[0].strip() if "=" in line else ""
            if name not in values:
                kept.append(line)
    text = "\n".join([*kept, *(f"{name}={value}" for name, value in values.items())]) + "\n"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)
    except OSError as exc:
        raise OfficialError(f"cannot write {path}: {exc}") from exc
    return path


def harness_env() -> dict[str, str]:
    """The harness's environment: the SDK finds sii's bridge, which runs on the Python sii is installed in (the
    harness may run on another, e.g. AgencyBench's own)."""
    env = {name: value for name, value in os.environ.items() if name not in AGENT_VARIABLES}
    return {**env, "SII_BRIDGE_PATH": str(NODE_ENTRY), "SII_PYTHON": env.get("SII_PYTHON") or sys.executable}


def check_harness_python(python: str) -> None:
    """v2's harnesses fall back to a no-op agent when the SDK (or node, which runs the bridge) is missing, and
    then score an untouched workspace: refuse that before anything runs."""
    if shutil.which("node") is None:
        raise OfficialError("node is not on PATH; sii-agent-sdk runs the bridge with it")
    try:
        found = subprocess.run([python, "-c", "import sii_agent_sdk"], capture_output=True, check=False)
    except OSError as exc:
        raise OfficialError(f"cannot run --python {python}: {exc}") from exc
    if found.returncode != 0:
        raise OfficialError(f"{python} cannot import sii_agent_sdk (pip install sii-agent-sdk there, or pass --python)")


def run_harness(folder: Path, python: str) -> tuple[int, Path]:
    """Run `eval_task.py` in its folder, its output straight to the terminal; then the `meta_eval.json` it wrote
    (under `<scenario>/<model>/`, the name derived from the model by the harness itself)."""
    started = time.time()
    try:
        code = subprocess.run([python, HARNESS], cwd=folder, env=harness_env(), check=False).returncode
    except OSError as exc:
        raise OfficialError(f"cannot run {python} {HARNESS}: {exc}") from exc
    written = [path for path in folder.glob(f"*/{META_EVAL}") if path.stat().st_mtime >= started - 1]
    if not written:
        raise OfficialError(f"{HARNESS} exited {code} without writing {META_EVAL} under {folder}")
    return code, max(written, key=lambda path: path.stat().st_mtime)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OfficialError(f"{where} is not a number: {value!r}")
    return float(value)


def subtask_result(entry: Any, index: int, session_id: str | None) -> tuple[SubtaskResult, dict[str, Any]]:
    """One `subtasks[i]` of meta_eval.json: its attempts up to the first that passed (rubric `passed`, else a
    score of 9.9 or more, where the harness itself stops), scores scaled to 0-1; and the scenario's own view."""
    where = f"{META_EVAL} subtasks[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("attempts"), list) or not entry["attempts"]:
        raise OfficialError(f"{where} has no attempts")
    name = str(entry.get("name") or f"subtask{index + 1}")
    digits = "".join(c for c in name if c.isdigit())
    record = SubtaskResult(int(digits) if digits else index + 1, "official", [])
    scores = []
    for attempt in entry["attempts"]:
        if not isinstance(attempt, dict):
            raise OfficialError(f"{where} holds an attempt that is not an object")
        score = _number(attempt.get("score"), f"{where} score")
        rubric = object_field(attempt, "rubric")
        passed = rubric["passed"] if isinstance(rubric.get("passed"), bool) else score >= PASS_SCORE
        scores.append(score)
        if record.status == "passed":
            continue  # the harness went on; the subtask was solved already
        feedback = attempt.get("feedback")
        record.attempts.append(
            Attempt(
                round=len(record.attempts) + 1,
                passed=passed,
                score=min(max(score / FULL_SCORE, 0.0), 1.0),
                met=[],
                feedback=feedback if isinstance(feedback, str) else "",
                recording_id=session_id or "",
                turn_end="official",
                steps=0,
                prompt_tokens=0,
                completion_tokens=0,
                seconds=0.0,
            )
        )
        if passed:
            record.status = "passed"
    if record.status != "passed":
        record.status, record.reason = "failed", "rounds"
    return record, {"name": name, "scores": scores, "best_score": entry.get("best_score")}


def read_meta_eval(path: Path, session_id: str | None) -> tuple[list[SubtaskResult], dict[str, Any]]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OfficialError(f"cannot read {path}: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("subtasks"), list):
        raise OfficialError(f"{path} has no subtasks list")
    read = [subtask_result(entry, index, session_id) for index, entry in enumerate(meta["subtasks"])]
    own = {"model": meta.get("model"), "scorer": meta.get("scorer"), "subtasks": [view for _, view in read]}
    return [record for record, _ in read], own


def new_recordings(since: float) -> list[Path]:
    """The recordings the harness's SDK session left (one, unless a query failed before its session opened)."""
    folder = recordings_dir(sii_home())
    return sorted(path for path in folder.glob("*.jsonl") if path.stat().st_mtime >= since)


def run_official(
    scenario: Path,
    agent: Agent,
    python: str,
    rounds: int,
    max_turns: int | None,
    run_dir: Path,
    say: Callable[[str], None],
) -> tuple[RunReport, int]:
    """Run the scenario; returns sii's report (saved in `run_dir`) and the harness's exit code."""
    folder = check_scenario(scenario)
    check_harness_python(python)
    env_path = write_env(folder, env_values(agent, rounds, max_turns))
    say(f"wrote {env_path} (model {agent.model} at {agent.base_url}); running {python} {HARNESS}")
    started = time.time()
    code, meta_path = run_harness(folder, python)
    recordings = new_recordings(started)
    session_id = recordings[0].stem if len(recordings) == 1 else None
    subtasks, own = read_meta_eval(meta_path, session_id)
    config = {"official": str(folder), "rounds": rounds, "judge": "official", "meta_eval": str(meta_path)}
    report = RunReport({**config, "scenario_scores": own, "harness_exit": code})
    task = TaskResult(
        id=f"{folder.parent.name}-{folder.name}",
        source=str(folder),
        workspace=str(meta_path.parent),
        recording=str(recordings[0]) if session_id else None,
        session_id=session_id,
        model=agent.model,
        subtasks=subtasks,
    )
    report.tasks.append(task)
    run_dir.mkdir(parents=True, exist_ok=True)
    report.save(run_dir)
    return report, code


def render_scenario_scores(report: RunReport, console: Any) -> None:
    """The scenario's own scores (0-10, every attempt), as its harness gave them."""
    own = report.config.get("scenario_scores", {})
    for view in own.get("subtasks", []):
        scores = ", ".join(f"{score:g}" for score in view["scores"])
        console.print(f"{view['name']}: scenario scores {scores} (best {view['best_score']})", highlight=False)


def resolve_agent(settings: Settings) -> Agent:
    """sii's server and model; the model asked of the server when the settings name none."""
    from sii.client import ModelClient

    if not settings.base_url:
        raise OfficialError("--official needs the agent's server: give --base-url (or set base_url)")
    client = ModelClient(settings.base_url, settings.model, settings.api_key)
    try:
        return Agent(settings.base_url, client.model, settings.api_key)
    finally:
        client.close()
