"""Judges decide, after each attempt, whether a subtask passed, which requirements are met, and what to tell
the agent. `command` runs the subtask's checks, `llm` asks any OpenAI-compatible model to grade against the
rubric, `human` asks the evaluator at the terminal. All three return the same `Verdict`."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.syntax import Syntax

from recordings.schema import Message
from sii.client import ModelClient, ModelError
from sii.eval.tasks import Requirement, Subtask
from sii.eval.workspace import workspace_diff

CHECK_TIMEOUT_S = 600
OUTPUT_TAIL = 2000  # characters of a failed check's output quoted back to the agent
LLM_SYSTEM = (
    "You grade the work of a coding agent against numbered requirements. Reply with one JSON object and "
    'nothing else: {"passed": true or false, "met": [numbers of the requirements that are met], '
    '"feedback": "what is missing or wrong, addressed to the agent; empty when passed"}.'
)
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class JudgeError(Exception):
    """A judge could not reach a verdict (an unreachable or unintelligible grading model)."""


@dataclass(frozen=True)
class Submission:
    """What the agent handed in for one attempt, and where."""

    subtask: Subtask
    requirements: tuple[Requirement, ...]
    answer: str  # the agent's final reply
    root: Path  # the agent's workspace
    baseline: Path  # how that workspace started

    def diff(self) -> str:
        return workspace_diff(self.baseline, self.root)


@dataclass
class Verdict:
    passed: bool
    met: list[str]  # the texts of the requirements met
    score: float  # weighted share of the requirements met
    feedback: str
    details: dict[str, Any] = field(default_factory=dict)  # what the judge saw and said, for the recording


class Judge(Protocol):
    def judge(self, submission: Submission) -> Verdict: ...


def weighted_score(requirements: tuple[Requirement, ...], met: list[int], passed: bool) -> float:
    """Σ weights met / Σ weights; without requirements, 1 for a pass and 0 for a fail."""
    total = sum(r.weight for r in requirements)
    if not total:
        return 1.0 if passed else 0.0
    return sum(requirements[i].weight for i in met) / total


def _verdict(submission: Submission, passed: bool, met: list[int], feedback: str, details: dict) -> Verdict:
    met = sorted(set(met))
    texts = [submission.requirements[i].text for i in met]
    return Verdict(passed, texts, weighted_score(submission.requirements, met, passed), feedback.strip(), details)


class CommandJudge:
    """Each check is a requirement: met when its command exits 0 in the workspace. Passed when all are met."""

    def judge(self, submission: Submission) -> Verdict:
        met, failures, runs = [], [], []
        for index, requirement in enumerate(submission.requirements):
            code, output = _run_check(requirement.run or "", submission.root)
            runs.append({"run": requirement.run, "exit": code, "output": output[-OUTPUT_TAIL:]})
            if code == 0:
                met.append(index)
                continue
            heading = f"Check failed: {requirement.text}"
            if requirement.text != requirement.run:
                heading += f"\n$ {requirement.run}"
            status = "timed out" if code is None else f"exit code {code}"
            failures.append(f"{heading}\n({status})\n{output[-OUTPUT_TAIL:]}".rstrip())
        passed = len(met) == len(submission.requirements)
        return _verdict(submission, passed, met, "\n\n".join(failures), {"checks": runs})


def _run_check(command: str, root: Path) -> tuple[int | None, str]:
    """(exit code, output); the exit code is None when the check ran past CHECK_TIMEOUT_S."""
    try:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or ""
        return None, output if isinstance(output, str) else output.decode(errors="replace")
    return done.returncode, done.stdout


def _numbered(requirements: tuple[Requirement, ...]) -> str:
    return "\n".join(f"{i}. {r.text} (weight {r.weight:g})" for i, r in enumerate(requirements, 1))


class LlmJudge:
    """Grades against the rubric with a model; the prompt and the raw answer go into the recording."""

    def __init__(self, client: ModelClient) -> None:
        self.client = client

    def judge(self, submission: Submission) -> Verdict:
        request = (
            f"## The task given to the agent\n{submission.subtask.prompt}\n\n"
            f"## Requirements\n{_numbered(submission.requirements)}\n\n"
            f"## The agent's final answer\n{submission.answer or '(none)'}\n\n"
            f"## What the agent changed in its workspace (unified diff)\n{submission.diff() or '(nothing)'}"
        )
        messages: list[Message] = [{"role": "system", "content": LLM_SYSTEM}, {"role": "user", "content": request}]
        try:
            completion = self.client.chat(messages, [], {"temperature": 0})
        except ModelError as exc:
            raise JudgeError(f"the grading model failed: {exc}") from exc
        answer = completion.message.get("content") or ""
        passed, met, feedback = _parse_grade(answer, submission.requirements)
        details = {"model": self.client.model, "prompt": messages, "answer": answer}
        return _verdict(submission, passed, met, feedback, details)


def _parse_grade(answer: str, requirements: tuple[Requirement, ...]) -> tuple[bool, list[int], str]:
    """(passed, indexes met, feedback) from the model's JSON; `met` may hold numbers or requirement texts."""
    found = JSON_OBJECT.search(answer)
    try:
        grade = json.loads(found.group(0)) if found else None
    except json.JSONDecodeError:
        grade = None
    if not isinstance(grade, dict) or not isinstance(grade.get("passed"), bool):
        raise JudgeError(f"the grading model did not answer with the JSON asked for: {answer[:200]!r}")
    texts = [r.text for r in requirements]
    if grade["passed"] and "met" not in grade:  # a pass that lists nothing meets everything
        return True, list(range(len(requirements))), str(grade.get("feedback") or "")
    met = []
    for item in grade.get("met") or []:
        if isinstance(item, int | str) and str(item).strip().isdigit() and 1 <= int(item) <= len(requirements):
            met.append(int(item) - 1)
        elif item in texts:
            met.append(texts.index(item))
    return grade["passed"], met, str(grade.get("feedback") or "")


class HumanJudge:
    """Shows the evaluator the final answer and the workspace diff, then reads the verdict from stdin."""

    def __init__(self, console: Console, ask: Callable[[str], str] = input) -> None:
        self.console = console
        self._ask = ask

    def ask(self, prompt: str) -> str:
        try:
            return self._ask(prompt)
        except EOFError as exc:
            raise JudgeError("the human judge needs a terminal: stdin closed before a verdict") from exc

    def judge(self, submission: Submission) -> Verdict:
        self.console.rule(f"Judge subtask {submission.subtask.number}")
        self.console.print("[bold]The agent's final answer[/bold]")
        self.console.print(submission.answer or "(none)", markup=False)
        self.console.print("[bold]Workspace changes[/bold]")
        diff = submission.diff()
        self.console.print(Syntax(diff, "diff") if diff else "(nothing)")
        self.console.print("[bold]Requirements[/bold]")
        self.console.print(_numbered(submission.requirements), markup=False)
        verdict = ""
        while verdict not in ("p", "f"):
            verdict = self.ask("verdict, p(ass) or f(ail): ").strip().lower()[:1]
        passed = verdict == "p"
        count = len(submission.requirements)
        met = list(range(count)) if passed else []
        if count > 1:
            default = "all" if passed else "none"
            typed = self.ask(f"requirements met (numbers like 1,3; Enter: {default}): ")
            numbers = [int(n) for n in re.findall(r"\d+", typed) if 1 <= int(n) <= count]
            met = [n - 1 for n in numbers] if typed.strip() else met
        feedback = "" if passed else self.ask("feedback for the agent: ")
        return _verdict(submission, passed, met, feedback, {})


def make_judge(kind: str, console: Console, base_url: str | None, model: str | None, api_key: str | None) -> Judge:
    if kind == "command":
        return CommandJudge()
    if kind == "human":
        return HumanJudge(console)
    if not base_url:
        raise JudgeError("the llm judge needs --judge-base-url (an OpenAI-compatible server)")
    return LlmJudge(ModelClient(base_url, model, api_key))
