"""The run's report: per task, subtask and attempt what the judge said, with tokens and time. It is saved
to `report.json` after every attempt, so it is both the result and the state an interrupted run resumes
from; it renders as a terminal table and compares two runs (e.g. a base model and its fine-tune)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sii.eval.metrics import Outcome, ToolUse, summarize, tool_use_rates

REPORT_FILE = "report.json"


@dataclass
class Attempt:
    round: int
    passed: bool
    score: float
    met: list[str]
    feedback: str
    recording_id: str
    turn_end: str  # why the agent's turn ended: done, step_limit...
    steps: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # the agent's time; judging is not counted
    replies: int = 0  # model replies in the attempt, those that call tools, those whose calls are valid (metrics.py)
    calling_replies: int = 0
    valid_call_replies: int = 0


@dataclass
class SubtaskResult:
    number: int
    judge: str
    requirements: list[dict[str, Any]]  # {"text", "weight"}
    status: str = "pending"  # pending, passed or failed
    reason: str | None = None  # why it failed: "rounds" or "time budget"
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status != "pending"

    @property
    def seconds(self) -> float:
        return sum(a.seconds for a in self.attempts)

    def outcome(self) -> Outcome:
        first = self.attempts[0].score if self.attempts else 0.0
        return Outcome(first, len(self.attempts) if self.status == "passed" else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "score": self.attempts[-1].score if self.attempts else 0.0,
            "first_round_score": self.outcome().first_score,
            "rounds_used": len(self.attempts),
            "prompt_tokens": sum(a.prompt_tokens for a in self.attempts),
            "completion_tokens": sum(a.completion_tokens for a in self.attempts),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubtaskResult:
        known = {k: data[k] for k in ("number", "judge", "requirements", "status", "reason")}
        return cls(**known, attempts=[Attempt(**a) for a in data["attempts"]])


@dataclass
class TaskResult:
    id: str
    source: str
    workspace: str
    recording: str | None = None  # the one session (and recording) all its subtasks continue
    session_id: str | None = None
    model: str | None = None
    subtasks: list[SubtaskResult] = field(default_factory=list)

    def subtask(self, number: int) -> SubtaskResult | None:
        return next((s for s in self.subtasks if s.number == number), None)

    def to_dict(self, rounds: int) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "subtasks"},
            "metrics": metrics(self.subtasks, rounds),
            "subtasks": [s.to_dict() for s in self.subtasks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        known: dict[str, Any] = {
            k: data.get(k) for k in ("id", "source", "workspace", "recording", "session_id", "model")
        }
        return cls(**known, subtasks=[SubtaskResult.from_dict(s) for s in data["subtasks"]])


def metrics(subtasks: list[SubtaskResult], rounds: int) -> dict[str, Any]:
    """The metrics over finished subtasks, plus their tokens and agent time."""
    done = [s for s in subtasks if s.finished]
    attempts = [a for s in done for a in s.attempts]
    use = ToolUse(
        sum(a.replies for a in attempts),
        sum(a.calling_replies for a in attempts),
        sum(a.valid_call_replies for a in attempts),
    )
    return {
        "rounds": rounds,
        **summarize([s.outcome() for s in done], rounds),
        "replies": use.replies,
        "calling_replies": use.calling,
        "valid_call_replies": use.valid,
        **tool_use_rates(use),
        "prompt_tokens": sum(a.prompt_tokens for a in attempts),
        "completion_tokens": sum(a.completion_tokens for a in attempts),
        "seconds": sum(a.seconds for a in attempts),
    }


@dataclass
class RunReport:
    config: dict[str, Any]  # rounds, judge, tasks...: what a resumed run must keep
    tasks: list[TaskResult] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @property
    def rounds(self) -> int:
        return int(self.config["rounds"])

    def task(self, task_id: str) -> TaskResult | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def result(self, task_id: str, number: int) -> SubtaskResult | None:
        task = self.task(task_id)
        return task.subtask(number) if task else None

    def metrics(self) -> dict[str, Any]:
        return metrics([s for t in self.tasks for s in t.subtasks], self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "updated_at": time.time(),
            "config": self.config,
            "metrics": self.metrics(),
            "tasks": [t.to_dict(self.rounds) for t in self.tasks],
        }

    def save(self, run_dir: Path) -> None:
        """Replace the report whole, so a killed run never leaves half a file to resume from."""
        path = run_dir / REPORT_FILE
        partial = path.with_name(f"{REPORT_FILE}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> RunReport:
        """From a run folder or its report file."""
        path = path / REPORT_FILE if path.is_dir() else path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["config"], [TaskResult.from_dict(t) for t in data["tasks"]], data["started_at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a readable sii eval report ({exc!r})") from exc


def _result(subtask: SubtaskResult) -> str:
    if subtask.status == "passed":
        return f"[green]passed[/green] in round {len(subtask.attempts)}"
    if subtask.status == "failed":
        return f"[red]failed[/red] ({subtask.reason})"
    return "[yellow]unfinished[/yellow]"


def _headline(values: dict[str, Any]) -> str:
    rounds = values["rounds"]
    return (
        f"FTFC {values['FTFC']:.3f}   SR@{rounds} {values[f'SR@{rounds}']:.3f}   RC@{rounds} "
        f"{values[f'RC@{rounds}']:.3f}   solved {values['solved']}/{values['subtasks']}   "
        f"tool-call validity {values['tool_call_validity']:.3f} ({values['valid_call_replies']}/"
        f"{values['calling_replies']} calling replies of {values['replies']})   "
        f"tokens {values['prompt_tokens'] + values['completion_tokens']:,}   {values['seconds']:.1f}s"
    )


def render(report: RunReport, console: Console) -> None:
    table = Table("task", "subtask", "judge", "result", "score", "round 1", "tokens", "seconds")
    for task in report.tasks:
        for s in task.subtasks:
            row = s.to_dict()
            table.add_row(
                task.id,
                str(s.number),
                s.judge,
                _result(s),
                f"{row['score']:.2f}",
                f"{row['first_round_score']:.2f}",
                f"{row['prompt_tokens'] + row['completion_tokens']:,}",
                f"{s.seconds:.1f}",
            )
    console.print(table)
    console.print(_headline(report.metrics()), highlight=False)


def _cell(subtask: SubtaskResult | None) -> str:
    if subtask is None:
        return "-"
    return f"{_result(subtask)}, score {subtask.to_dict()['score']:.2f}"


def render_compare(a: RunReport, b: RunReport, console: Console, names: tuple[str, str] = ("A", "B")) -> None:
    """Subtasks side by side (matched by task id and number), then each run's metrics and B − A."""
    table = Table("task", "subtask", names[0], names[1])
    keys = [(t.id, s.number) for run in (a, b) for t in run.tasks for s in t.subtasks]
    for task_id, number in dict.fromkeys(keys):
        table.add_row(task_id, str(number), _cell(a.result(task_id, number)), _cell(b.result(task_id, number)))
    console.print(table)
    ma, mb = a.metrics(), b.metrics()
    summary = Table("metric", names[0], names[1], "B − A")
    for label, key_a, key_b in (
        ("FTFC", "FTFC", "FTFC"),
        (f"SR@R (R={a.rounds}/{b.rounds})", f"SR@{a.rounds}", f"SR@{b.rounds}"),
        (f"RC@R (R={a.rounds}/{b.rounds})", f"RC@{a.rounds}", f"RC@{b.rounds}"),
    ):
        summary.add_row(label, f"{ma[key_a]:.3f}", f"{mb[key_b]:.3f}", f"{mb[key_b] - ma[key_a]:+.3f}")
    for label, key in (("tool-call validity", "tool_call_validity"), ("valid-call share", "valid_call_share")):
        summary.add_row(label, f"{ma[key]:.3f}", f"{mb[key]:.3f}", f"{mb[key] - ma[key]:+.3f}")
    for label, key in (
        ("solved", "solved"),
        ("subtasks", "subtasks"),
        ("replies", "replies"),
        ("replies calling tools", "calling_replies"),
        ("replies with valid calls", "valid_call_replies"),
    ):
        summary.add_row(label, str(ma[key]), str(mb[key]), f"{mb[key] - ma[key]:+d}")
    tokens_a = ma["prompt_tokens"] + ma["completion_tokens"]
    tokens_b = mb["prompt_tokens"] + mb["completion_tokens"]
    summary.add_row("tokens", f"{tokens_a:,}", f"{tokens_b:,}", f"{tokens_b - tokens_a:+,}")
    summary.add_row("seconds", f"{ma['seconds']:.1f}", f"{mb['seconds']:.1f}", f"{mb['seconds'] - ma['seconds']:+.1f}")
    console.print(summary)
