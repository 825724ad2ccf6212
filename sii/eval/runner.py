"""Runs an eval the way AgencyBench does: per task one continuing conversation (one recorded Session, face
"eval"), its subtasks in order; after each attempt a judge rules, and on a fail its feedback is the agent's
next user message, up to R rounds. The report is saved after every attempt, so an interrupted run resumes
where it stopped: finished subtasks are skipped and the conversation goes on in the same recording."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from model_server.endpoint import EndpointError, resolve_endpoint
from recordings.schema import Message
from sii.config import Settings
from sii.eval.judges import Judge, Submission, make_judge
from sii.eval.metrics import tool_use
from sii.eval.report import Attempt, RunReport, SubtaskResult, TaskResult
from sii.eval.tasks import Subtask, Task
from sii.eval.workspace import prepare
from sii.events import AssistantMessage, ErrorEvent, Event
from sii.render import Renderer
from sii.session import Session

FEEDBACK_MESSAGE = (
    "An evaluator checked your work on subtask {number} and it does not pass yet (round {round} of {rounds}). "
    "Their feedback:\n\n{feedback}\n\nPlease fix this, then reply when you are done."
)


class EvalError(Exception):
    """The eval cannot go on as asked; str() says why."""


class TurnMeter:
    """Tokens spent since `reset` (every request of the turn, not only the last), the model's replies (from the
    events, so a compaction that rewrites the conversation loses none), and the last model error."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prompt_tokens = self.completion_tokens = 0
        self.replies: list[Message] = []
        self.error = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, AssistantMessage):
            self.replies.append(event.message)
            self.prompt_tokens += event.usage.get("prompt_tokens", 0)
            self.completion_tokens += event.usage.get("completion_tokens", 0)
        elif isinstance(event, ErrorEvent):
            self.error = event.message


def safe_name(task_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", task_id)


class Runner:
    """One run folder: `report.json`, `workspaces/<task>/` (the agent's), `baselines/<task>/` (how it began)."""

    def __init__(
        self,
        run_dir: Path,
        report: RunReport,
        tasks: list[Task],
        console: Console,
        settings_for: Callable[[Path], Settings],
        judge_api_key: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.report = report
        self.tasks = tasks
        self.console = console
        self.settings_for = settings_for  # the agent's settings in a task's workspace (the face's flags)
        self.judge_api_key = judge_api_key
        self._judges: dict[str, Judge] = {}

    @property
    def config(self) -> dict:
        return self.report.config

    def judge_kind(self, task: Task, subtask: Subtask) -> str:
        """The subtask's own judge, else its task's, else the run's (--judge)."""
        return subtask.judge or task.judge or self.config["judge"]

    def judge(self, kind: str) -> Judge:
        if kind not in self._judges:
            url, model = self.config.get("judge_base_url"), self.config.get("judge_model")
            self._judges[kind] = make_judge(kind, self.console, url, model, self.judge_api_key)
        return self._judges[kind]

    def plan(self, task_ids: list[str] | None, numbers: list[int] | None) -> list[tuple[Task, list[Subtask]]]:
        """The selected subtasks not finished yet, per task; refuses what cannot be judged before anything runs."""
        known = {task.id for task in self.tasks}
        if unknown := sorted(set(task_ids or []) - known):
            raise EvalError(f"no task named {', '.join(unknown)}; the tasks are {', '.join(sorted(known))}")
        plan = []
        for task in self.tasks:
            if task_ids and task.id not in task_ids:
                continue
            chosen = [s for s in task.subtasks if not numbers or s.number in numbers]
            pending = [s for s in chosen if not ((r := self.report.result(task.id, s.number)) and r.finished)]
            for subtask in pending:
                kind = self.judge_kind(task, subtask)
                if kind == "command" and not subtask.checks:
                    raise EvalError(
                        f"task {task.id} subtask {subtask.number} has no checks for the command judge; "
                        "use --judge llm or --judge human (or give it checks)"
                    )
                self.judge(kind)
            if pending:
                plan.append((task, pending))
        return plan

    def run(self, task_ids: list[str] | None = None, numbers: list[int] | None = None) -> None:
        for task, subtasks in self.plan(task_ids, numbers):
            self._run_task(task, subtasks)

    def _task_result(self, task: Task) -> TaskResult:
        result = self.report.task(task.id)
        if result is None:
            root = self.run_dir / "workspaces" / safe_name(task.id)
            prepare(task, root, self.run_dir / "baselines" / safe_name(task.id))
            result = TaskResult(task.id, str(task.source), str(root))
            self.report.tasks.append(result)
            self.report.save(self.run_dir)
        return result

    def _run_task(self, task: Task, subtasks: list[Subtask]) -> None:
        result = self._task_result(task)
        root = Path(result.workspace)
        settings = self.settings_for(root)
        if self.config.get("allowed_tools"):  # the run's own list, so a resumed run offers the same tools
            settings._apply({"tools.allowed": self.config["allowed_tools"]}, "flag")
        resume = Path(result.recording) if result.recording else None
        try:
            resolve_endpoint(settings, self.console.print)
        except EndpointError as exc:
            raise EvalError(str(exc)) from exc
        session = Session(settings, face="eval", ask=None, notify=self.console.print, resume=resume)
        result.recording, result.session_id = str(session.recording_path), session.id
        result.model = session.client.model
        self.report.save(self.run_dir)
        meter = TurnMeter()
        session.subscribe(meter)
        session.subscribe(Renderer(self.console, stream=False))
        try:
            for subtask in subtasks:
                self._run_subtask(session, meter, task, subtask, result)
            passed = sum(s.status == "passed" for s in result.subtasks)
            outcome = "success" if passed == len(result.subtasks) else "fail"
            session.label(outcome, f"sii eval {task.id}: {passed}/{len(result.subtasks)} subtasks passed")
        finally:
            session.close()

    def _subtask_result(self, task: Task, subtask: Subtask, result: TaskResult) -> SubtaskResult:
        found = result.subtask(subtask.number)
        if found is None:
            kind = self.judge_kind(task, subtask)
            requirements = [{"text": r.text, "weight": r.weight} for r in subtask.requirements(kind)]
            found = SubtaskResult(subtask.number, kind, requirements)
            result.subtasks.append(found)
            result.subtasks.sort(key=lambda s: s.number)
        return found

    def _run_subtask(
        self, session: Session, meter: TurnMeter, task: Task, subtask: Subtask, result: TaskResult
    ) -> None:
        record = self._subtask_result(task, subtask, result)
        while not record.finished:
            message = self._feedback(record) if record.attempts else subtask.prompt
            meter.reset()
            started = time.monotonic()
            end = session.agent.run_turn(message)
            seconds = time.monotonic() - started
            if end.reason == "interrupted":
                raise KeyboardInterrupt
            if end.reason == "error":
                raise EvalError(f"the agent's model failed ({meter.error}); fix it, then resume this run")
            offered = [schema["function"]["name"] for schema in session.agent.registry.schemas()]
            use = tool_use(meter.replies, offered)
            answer = end.answer
            requirements = subtask.requirements(record.judge)
            baseline = self.run_dir / "baselines" / safe_name(task.id)
            submission = Submission(subtask, requirements, answer, Path(result.workspace), baseline)
            verdict = self.judge(record.judge).judge(submission)
            attempt = Attempt(
                round=len(record.attempts) + 1,
                passed=verdict.passed,
                score=verdict.score,
                met=verdict.met,
                feedback=verdict.feedback,
                recording_id=session.id,
                turn_end=end.reason,
                steps=end.steps,
                prompt_tokens=meter.prompt_tokens,
                completion_tokens=meter.completion_tokens,
                seconds=seconds,
                replies=use.replies,
                calling_replies=use.calling,
                valid_call_replies=use.valid,
            )
            self._settle(record, attempt)
            session.note(
                "eval",
                sync=True,
                task=task.id,
                subtask=subtask.number,
                round=attempt.round,
                judge=record.judge,
                passed=verdict.passed,
                score=verdict.score,
                met=verdict.met,
                feedback=verdict.feedback,
                status=record.status,
                reason=record.reason,
                details=verdict.details,
            )
            self.report.save(self.run_dir)
            shown = "[green]passed[/green]" if verdict.passed else "[red]failed[/red]"
            where = f"{task.id} subtask {subtask.number} round {attempt.round}"
            self.console.print(f"{where}: {shown} (score {verdict.score:.2f})")
            if not record.finished and verdict.feedback:
                self.console.print(Text(verdict.feedback, style="dim"))

    def _settle(self, record: SubtaskResult, attempt: Attempt) -> None:
        """Add the attempt; the subtask is over on a pass, after R rounds, or once past its time budget."""
        record.attempts.append(attempt)
        budget = self.config.get("time_budget")
        if attempt.passed:
            record.status = "passed"
        elif attempt.round >= self.report.rounds:
            record.status, record.reason = "failed", "rounds"
        elif budget is not None and record.seconds >= budget:
            record.status, record.reason = "failed", "time budget"

    def _feedback(self, record: SubtaskResult) -> str:
        last = record.attempts[-1]
        feedback = last.feedback or "The evaluator gave no details; check your work against the task again."
        rounds = self.report.rounds
        return FEEDBACK_MESSAGE.format(number=record.number, round=last.round, rounds=rounds, feedback=feedback)
