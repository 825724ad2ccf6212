"""`sii eval`: task loaders, the three judges, feedback rounds, metrics, the report, resume and compare, all
against the scripted server so every verdict and every number is known in advance."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pexpect
import pytest

from recordings.store import read_trajectory, recordings_dir
from sii.eval.commands import register
from sii.eval.metrics import Outcome, summarize
from sii.eval.report import Attempt, RunReport, SubtaskResult, TaskResult
from sii.eval.tasks import Requirement, TaskError, discover, load_task, load_tasks
from tests.scripted_server import Reply, ScriptedServer, call

FIXTURES = Path(__file__).parent / "eval_fixtures"
CALC = FIXTURES / "calc" / "calc.yaml"
V1 = FIXTURES / "agencybench_v1" / "task9" / "Task9_Notes_Demo.json"
V2 = FIXTURES / "agencybench_v2" / "Code" / "scenario1"
REPO = Path(__file__).parent.parent

FIX_ADD = [
    Reply("", [call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})]),
    Reply("Fixed add."),
]
MUL_IN_TWO_ROUNDS = [
    Reply("", [call("write_file", {"path": "mul.py", "content": "def mul(a, b):\n    return a + b\n"})]),
    Reply("Wrote mul."),
    Reply("", [call("edit_file", {"path": "mul.py", "old_string": "a + b", "new_string": "a * b"})]),
    Reply("Fixed mul."),
]


def eval_cli(*argv: str | Path) -> int:
    """`sii eval ...` through the parser `register` builds, as sii's own command line will."""
    parser = argparse.ArgumentParser(prog="sii")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *map(str, argv)])
    return args.handler(args)


def report_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


def user_texts(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_loaders_read_agencybench_v1_v2_and_sii_tasks() -> None:
    v1 = load_task(V1)
    assert v1.id == "Task9_Notes_Demo" and [s.number for s in v1.subtasks] == [1, 2, 3]
    assert v1.workspace == V1.parent / "workspace" and v1.workspace_into == "workspace"
    first = v1.subtasks[0]
    assert first.prompt.startswith("Project: a notes tool") and "Subtask 1 — Count notes" in first.prompt
    assert "Subtask 2" not in first.prompt
    assert first.rubric == (Requirement("count.txt holds the number of notes."),)
    assert v1.subtasks[1].prompt.startswith("Subtask 2: Sort notes")
    assert v1.subtasks[1].rubric == (Requirement("Subtask 2 is completed as described"),)

    v2 = load_task(V2)
    assert v2.id == "Code-scenario1" and v2.workspace == V2 / "source"
    one = v2.subtasks[0]
    assert one.prompt.startswith("Query:\nBuild app.py") and "Deliverables:\n- `app.py`" in one.prompt
    assert "Score_B" not in one.prompt  # the rubric is for the judge
    assert [(r.text[:5], r.weight) for r in one.rubric] == [("Build", 0.3), ("Demo ", 0.7)]
    assert one.requirements("llm") == one.rubric and one.requirements("command") == ()

    calc = load_task(CALC)
    assert calc.id == "calc" and calc.workspace == CALC.parent / "ws"
    mul = calc.subtasks[1]
    assert [(c.text, c.weight, c.run) for c in mul.checks] == [
        ("mul.py exists", 1.0, "test -f mul.py"),
        ("mul multiplies", 3.0, 'grep -q "return a \\* b" mul.py'),
    ]
    assert mul.requirements("human") == mul.checks  # no rubric: people read the checks

    assert sorted(p.name for p in discover(FIXTURES)) == ["Task9_Notes_Demo.json", "calc.yaml", "scenario1"]
    assert [t.id for t in load_tasks([FIXTURES])] == ["Task9_Notes_Demo", "Code-scenario1", "calc"]


def test_loaders_name_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"subtasks": [{"prompt": "x", "chekcs": []}]}))
    with pytest.raises(TaskError, match=r"unknown key.*chekcs"):
        load_task(bad)
    bad.write_text(json.dumps({"subtasks": [{"prompt": "x", "judge": "oracle"}]}))
    with pytest.raises(TaskError, match="judge must be one of"):
        load_task(bad)
    bad.write_text(json.dumps({"metadata": {"subtask_count": 2}, "query": "Subtask 1\nonly one"}))
    with pytest.raises(TaskError, match=r"Subtask 1\.\.2"):
        load_task(bad)


def test_metrics_by_hand() -> None:
    outcomes = [Outcome(1.0, 1), Outcome(0.25, 2), Outcome(0.0, None), Outcome(0.5, 3)]
    assert summarize(outcomes, 3) == {
        "subtasks": 4,
        "solved": 3,
        "FTFC": pytest.approx((1 + 0.25 + 0 + 0.5) / 4),
        "SR@3": 0.75,
        "RC@3": pytest.approx((2 / 2 + 1 / 2 + 0 + 0 / 2) / 4),
    }
    assert summarize([Outcome(1.0, 1), Outcome(0.0, None)], 1)["RC@1"] == 0.5


def test_command_judge_rounds_feedback_metrics_and_report(
    scripted: ScriptedServer, tmp_path: Path, sii_home: Path
) -> None:
    scripted.script = [*FIX_ADD, *MUL_IN_TWO_ROUNDS, Reply("I cannot."), Reply("Still no."), Reply("No.")]
    run_dir = tmp_path / "run"
    assert eval_cli("run", CALC, "--out", run_dir, "--base-url", scripted.base_url) == 0

    # Round 2 of subtask 2 began with the failed check's feedback, in the same conversation.
    feedback_request = next(r for r in scripted.requests if "Check failed" in user_texts(r)[-1])
    last = user_texts(feedback_request)[-1]
    assert "subtask 2" in last and "round 1 of 3" in last and "Check failed: mul multiplies" in last
    assert "exit code 1" in last and "mul.py exists" not in last
    assert user_texts(feedback_request)[:2] == [
        "Fix add() in calc.py so that it adds.",
        "Write mul.py with mul(a, b) returning the product.",
    ]
    assert (run_dir / "workspaces" / "calc" / "mul.py").read_text() == "def mul(a, b):\n    return a * b\n"
    assert (CALC.parent / "ws" / "calc.py").read_text().endswith("a - b\n")  # the task's copy is untouched

    report = report_of(run_dir)
    assert report["config"]["rounds"] == 3 and report["config"]["judge"] == "command"
    (task,) = report["tasks"]
    first, second, third = task["subtasks"]
    assert [s["status"] for s in task["subtasks"]] == ["passed", "passed", "failed"]
    assert [s["rounds_used"] for s in task["subtasks"]] == [1, 2, 3]
    assert third["reason"] == "rounds" and third["score"] == 0.0
    attempt = second["attempts"][0]
    assert not attempt["passed"] and attempt["score"] == 0.25 and attempt["met"] == ["mul.py exists"]
    assert attempt["feedback"].startswith("Check failed: mul multiplies")
    assert second["attempts"][1]["met"] == ["mul.py exists", "mul multiplies"]
    assert second["requirements"] == [
        {"text": "mul.py exists", "weight": 1.0},
        {"text": "mul multiplies", "weight": 3.0},
    ]
    assert second["first_round_score"] == 0.25 and second["score"] == 1.0
    every = [a for s in task["subtasks"] for a in s["attempts"]]
    assert {a["recording_id"] for a in every} == {task["session_id"]}
    assert all(a["prompt_tokens"] > 0 and a["completion_tokens"] > 0 and a["seconds"] >= 0 for a in every)
    assert first["attempts"][0]["steps"] == 2 and first["attempts"][0]["turn_end"] == "done"
    assert second["prompt_tokens"] == sum(a["prompt_tokens"] for a in second["attempts"])

    metrics = report["metrics"]
    assert metrics["subtasks"] == 3 and metrics["solved"] == 2
    assert metrics["FTFC"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert metrics["SR@3"] == pytest.approx(2 / 3)
    assert metrics["RC@3"] == pytest.approx(((3 - 1) / 2 + (3 - 2) / 2 + 0) / 3)
    assert task["metrics"] == metrics
    assert metrics["prompt_tokens"] == sum(a["prompt_tokens"] for a in every)

    (recording,) = recordings_dir(sii_home).glob("*.jsonl")
    assert task["recording"] == str(recording)
    trajectory = read_trajectory(recording)
    assert trajectory.meta.face == "eval" and trajectory.meta.outcome == "fail"
    evals = [e for e in trajectory.events if e["type"] == "eval"]
    assert [(e["subtask"], e["round"], e["passed"]) for e in evals] == [
        (1, 1, True),
        (2, 1, False),
        (2, 2, True),
        (3, 1, False),
        (3, 2, False),
        (3, 3, False),
    ]
    assert evals[1]["task"] == "calc" and evals[1]["details"]["checks"][1]["exit"] == 1
    assert evals[-1]["status"] == "failed" and evals[-1]["reason"] == "rounds"


def test_resume_skips_finished_subtasks_and_continues_the_conversation(
    scripted: ScriptedServer, tmp_path: Path, sii_home: Path
) -> None:
    run_dir = tmp_path / "run"
    scripted.script = list(FIX_ADD)
    assert eval_cli("run", CALC, "--out", run_dir, "--subtask", "1", "--base-url", scripted.base_url) == 0
    assert [s["number"] for s in report_of(run_dir)["tasks"][0]["subtasks"]] == [1]
    assert eval_cli("run", CALC, "--out", run_dir, "--base-url", scripted.base_url) == 2  # no silent overwrite

    done = len(scripted.requests)
    scripted.script = list(MUL_IN_TWO_ROUNDS)
    assert (
        eval_cli("run", "--resume", run_dir, "--subtask", "1", "--subtask", "2", "--base-url", scripted.base_url) == 0
    )
    resumed = scripted.requests[done]
    assert user_texts(resumed) == [
        "Fix add() in calc.py so that it adds.",
        "Write mul.py with mul(a, b) returning the product.",
    ]
    assert any(m["role"] == "assistant" and m["content"] == "Fixed add." for m in resumed["messages"])
    assert len(scripted.requests) == done + 4  # subtask 1 was not run again

    (task,) = report_of(run_dir)["tasks"]
    assert [(s["number"], s["status"], s["rounds_used"]) for s in task["subtasks"]] == [
        (1, "passed", 1),
        (2, "passed", 2),
    ]
    (recording,) = recordings_dir(sii_home).glob("*.jsonl")  # one session, continued
    trajectory = read_trajectory(recording)
    assert any(e["type"] == "resume" and e["face"] == "eval" for e in trajectory.events)
    assert trajectory.meta.outcome == "success"
    metrics = report_of(run_dir)["metrics"]
    assert metrics["FTFC"] == pytest.approx((1 + 0.25) / 2) and metrics["SR@3"] == 1.0
    assert metrics["RC@3"] == pytest.approx((1 + 0.5) / 2)


def test_time_budget_and_step_limit(scripted: ScriptedServer, tmp_path: Path) -> None:
    task = tmp_path / "slow.json"
    task.write_text(
        json.dumps({"name": "slow", "subtasks": [{"prompt": "make done.txt", "checks": ["test -f done.txt"]}]})
    )
    scripted.script = [Reply("", [call("list_directory", {"path": "."})])]
    run_dir = tmp_path / "run"
    args = ["--time-budget", "0", "--max-steps", "1", "--base-url", scripted.base_url]
    assert eval_cli("run", task, "--out", run_dir, *args) == 0
    (subtask,) = report_of(run_dir)["tasks"][0]["subtasks"]
    assert subtask["status"] == "failed" and subtask["reason"] == "time budget" and subtask["rounds_used"] == 1
    assert subtask["attempts"][0]["turn_end"] == "step_limit" and subtask["attempts"][0]["steps"] == 1
    assert len(scripted.requests) == 1


def test_command_judge_needs_checks(scripted: ScriptedServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert eval_cli("run", V1, "--out", tmp_path / "run", "--base-url", scripted.base_url) == 2
    assert "has no checks for the command judge" in capsys.readouterr().err
    assert scripted.requests == []


def test_llm_judge_grades_against_the_rubric(scripted: ScriptedServer, tmp_path: Path, sii_home: Path) -> None:
    scripted.script = [
        Reply("", [call("write_file", {"path": "app.py", "content": "print('v1')\n"})]),
        Reply("Built the app."),
        Reply("Added the demo log."),
        Reply("Added --help."),
    ]
    grades = [
        Reply('{"passed": false, "met": [1], "feedback": "logs/demo.txt is missing"}'),
        Reply('Here is my grade:\n```json\n{"passed": true, "met": [1, 2], "feedback": ""}\n```'),
        Reply('{"passed": true, "met": ["Help (Score_H): `python app.py --help` exits 0."]}'),
    ]
    run_dir = tmp_path / "run"
    with ScriptedServer(grades) as grader:
        code = eval_cli(
            "run", V2, "--judge", "llm", "--judge-base-url", grader.base_url, "--out", run_dir,
            "--base-url", scripted.base_url,
        )  # fmt: skip
    assert code == 0
    grading = grader.requests[0]["messages"][1]["content"]
    assert "1. Build (Score_B): `python app.py` prints v1. (weight 0.3)" in grading
    assert "Built the app." in grading and "+++ b/app.py" in grading and "+print('v1')" in grading
    assert grader.requests[0]["temperature"] == 0
    assert "logs/demo.txt is missing" in user_texts(scripted.requests[2])[-1]
    assert "Score_B" not in user_texts(scripted.requests[0])[0]
    assert (run_dir / "workspaces" / "Code-scenario1" / "VERSION").read_text() == "v0\n"

    (task,) = report_of(run_dir)["tasks"]
    one, two = task["subtasks"]
    assert [a["score"] for a in one["attempts"]] == [pytest.approx(0.3), 1.0] and one["status"] == "passed"
    assert one["attempts"][0]["met"] == ["Build (Score_B): `python app.py` prints v1."]
    assert two["status"] == "passed" and two["score"] == 1.0
    metrics = report_of(run_dir)["metrics"]
    assert metrics["FTFC"] == pytest.approx((0.3 + 1) / 2) and metrics["SR@3"] == 1.0
    assert metrics["RC@3"] == pytest.approx((0.5 + 1) / 2)

    (recording,) = recordings_dir(sii_home).glob("*.jsonl")
    first = next(e for e in read_trajectory(recording).events if e["type"] == "eval")
    assert first["judge"] == "llm" and first["details"]["answer"].startswith('{"passed": false')
    assert first["details"]["prompt"][1]["content"] == grading and first["details"]["model"] == "scripted-model"


def test_human_judge_in_a_terminal(scripted: ScriptedServer, tmp_path: Path) -> None:
    task = tmp_path / "greet.json"
    rubric = ["hello.txt says hello", "it greets the world"]
    task.write_text(
        json.dumps({"name": "greet", "judge": "human", "subtasks": [{"prompt": "greet", "rubric": rubric}]})
    )
    scripted.script = [
        Reply("", [call("write_file", {"path": "hello.txt", "content": "hello\n"})]),
        Reply("Wrote hello.txt."),
        Reply("Now it greets the world."),
    ]
    run_dir = tmp_path / "run"
    program = (
        "import argparse, sys; from sii.eval.commands import register; p = argparse.ArgumentParser(prog='sii'); "
        "register(p.add_subparsers(dest='command')); a = p.parse_args(sys.argv[1:]); sys.exit(a.handler(a))"
    )
    argv = ["-c", program, "eval", "run", str(task), "--rounds", "2", "--out", str(run_dir)]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    child = pexpect.spawn(
        sys.executable, [*argv, "--base-url", scripted.base_url], cwd=str(REPO), env=env, encoding="utf-8", timeout=30
    )
    child.setwinsize(40, 120)
    child.expect("Wrote hello.txt.")
    child.expect(r"\+hello")  # the workspace diff
    child.expect("verdict, p\\(ass\\) or f\\(ail\\): ")
    child.sendline("f")
    child.expect("requirements met")
    child.sendline("1")
    child.expect("feedback for the agent: ")
    child.sendline("please greet the world too")
    child.expect("Now it greets the world.")
    child.expect("verdict, p\\(ass\\) or f\\(ail\\): ")
    child.sendline("p")
    child.expect("requirements met")
    child.sendline("")
    child.expect("SR@2 1.000")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    assert "please greet the world too" in user_texts(scripted.requests[2])[-1]
    (subtask,) = report_of(run_dir)["tasks"][0]["subtasks"]
    first, second = subtask["attempts"]
    assert not first["passed"] and first["met"] == ["hello.txt says hello"] and first["score"] == 0.5
    assert first["feedback"] == "please greet the world too"
    assert second["passed"] and second["met"] == rubric and subtask["judge"] == "human"


def test_compare_shows_two_runs_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    def attempt(round_: int, passed: bool, score: float) -> Attempt:  # 2 replies: a call (valid on a pass), an answer
        return Attempt(round_, passed, score, [], "", "s", "done", 1, 100, 10, 1.0, 2, 1, int(passed))

    def run(name: str, second: SubtaskResult) -> Path:
        first = SubtaskResult(1, "command", [], "passed", None, [attempt(1, True, 1.0)])
        report = RunReport({"rounds": 3}, [TaskResult("calc", "calc.yaml", "ws", subtasks=[first, second])])
        (tmp_path / name).mkdir()
        report.save(tmp_path / name)
        return tmp_path / name

    failing = [attempt(1, False, 0.5), attempt(2, False, 0.5), attempt(3, False, 0.5)]
    base = run("base", SubtaskResult(2, "command", [], "failed", "rounds", failing))
    tuned = run("tuned", SubtaskResult(2, "command", [], "passed", None, [attempt(1, True, 1.0)]))
    assert eval_cli("compare", base / "report.json", tuned) == 0
    out = capsys.readouterr().out
    assert "failed (rounds), score 0.50" in out and "passed in round 1, score 1.00" in out
    summary = out[out.rindex("metric") :].splitlines()
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]] for line in summary
            if line.count("│") == 5}  # fmt: skip
    assert rows["FTFC"] == ["0.750", "1.000", "+0.250"]
    assert rows["SR@R (R=3/3)"] == ["0.500", "1.000", "+0.500"]
    assert rows["RC@R (R=3/3)"] == ["0.500", "1.000", "+0.500"]
    assert rows["solved"] == ["1", "2", "+1"] and rows["tokens"] == ["440", "220", "-220"]
    assert rows["tool-call validity"] == ["0.250", "1.000", "+0.750"]  # 1 of 4 calling replies valid; 2 of 2
    assert rows["valid-call share"] == ["0.125", "0.500", "+0.375"]
    assert rows["replies"] == ["8", "4", "-4"] and rows["replies with valid calls"] == ["1", "2", "+1"]


def test_tool_call_validity_counts_every_reply_against_the_offered_tools(
    scripted: ScriptedServer, tmp_path: Path, sii_home: Path
) -> None:
    task = tmp_path / "done.json"
    subtasks = [{"prompt": "make done.txt", "checks": ["test -f done.txt"]}, {"prompt": "say hi", "checks": ["true"]}]
    task.write_text(json.dumps({"name": "done", "subtasks": subtasks}))
    scripted.script = [
        Reply("", [call("run_shell", {"command": "touch done.txt"})]),  # a real tool, but not offered
        Reply("", [call("write_file", "path=done.txt")]),  # arguments that are not JSON
        Reply("", [call("write_file", {"path": "done.txt", "content": "x"}), call("read_file", {"path": "done.txt"})]),
        Reply("", [call("read_file", {"path": "done.txt"}), call("no_such_tool", {})]),  # one bad call spoils it
        Reply("Done. <tool_call>\nnot json at all\n</tool_call>"),  # markup sii could not read: a failed call
        Reply("hi"),
    ]
    run_dir = tmp_path / "run"
    flags = ["--rounds", "1", "--allowed-tools", "write_file,read_file", "--base-url", scripted.base_url]
    assert eval_cli("run", task, "--out", run_dir, *flags) == 0
    assert all([t["function"]["name"] for t in r["tools"]] == ["read_file", "write_file"] for r in scripted.requests)
    report = report_of(run_dir)
    assert report["config"]["allowed_tools"] == ["write_file,read_file"]  # a resumed run offers the same
    first, second = report["tasks"][0]["subtasks"]
    assert first["status"] == "passed" and second["status"] == "passed"
    counts = [
        (a["replies"], a["calling_replies"], a["valid_call_replies"]) for s in (first, second) for a in s["attempts"]
    ]
    assert counts == [(5, 5, 1), (1, 0, 0)]
    metrics = report["metrics"]
    assert metrics["tool_call_validity"] == pytest.approx(1 / 5) and metrics["valid_call_share"] == pytest.approx(1 / 6)
