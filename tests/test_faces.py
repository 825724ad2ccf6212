"""The two faces as a user meets them: headless `sii -p`, and the REPL in a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect

from recordings.store import read_trajectory, recordings_dir
from tests.scripted_server import Reply, ScriptedServer, call

SII = [sys.executable, "-m", "sii"]


def sii(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SII, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def only_recording(home: Path) -> Path:
    (path,) = recordings_dir(home).glob("*.jsonl")
    return path


def test_headless_yolo_runs_tools_and_prints_the_answer(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [
        Reply("", [call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})]),
        Reply("Fixed the sign in add()."),
    ]
    result = sii("-p", "fix add", "--yolo", "--base-url", scripted.base_url, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Fixed the sign in add().\n"
    assert "edit_file(" in result.stderr
    assert "a + b" in (workspace / "calc.py").read_text()
    trajectory = read_trajectory(only_recording(sii_home))
    assert trajectory.meta.face == "headless" and trajectory.meta.workspace == str(workspace)
    assert [m["role"] for m in trajectory.messages] == ["system", "user", "assistant", "tool", "assistant"]


def test_headless_without_yolo_refuses_writes(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [
        Reply("", [call("write_file", {"path": "evil.txt", "content": "x"})]),
        Reply("I could not write the file."),
    ]
    result = sii("-p", "write evil.txt", "--base-url", scripted.base_url, cwd=workspace)
    assert result.returncode == 4, "a refused action must show in the exit code"
    assert "only with --yolo" in result.stderr and "1 action(s) were refused" in result.stderr
    assert not (workspace / "evil.txt").exists()

    scripted.script = [
        Reply("", [call("write_file", {"path": "evil.txt", "content": "x"}), call("git_status", {})]),
        Reply("Done, I fixed everything."),
    ]
    result = sii("-p", "write evil.txt", "--output-format", "json", "--base-url", scripted.base_url, cwd=workspace)
    (summary,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 4 and summary["reason"] == "refused" and summary["is_error"] is False
    (denial,) = summary["permission_denials"]
    assert denial["tool_name"] == "write_file" and "only with --yolo" in denial["reason"]


def test_headless_json_formats_and_exit_codes(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [Reply("", [call("git_status", {})]), Reply("Clean tree.")]
    result = sii("-p", "status?", "--output-format", "stream-json", "--base-url", scripted.base_url, cwd=workspace)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "user_message" and kinds[-2:] == ["turn_end", "result"]
    assert "tool_call_started" in kinds and "tool_result" in kinds and "text_delta" in kinds
    tool_result = next(e for e in events if e["type"] == "tool_result")
    assert "## main" in tool_result["observation"]["text"]
    assert events[-1]["result"] == "Clean tree." and events[-1]["reason"] == "done" and result.returncode == 0

    scripted.script = [Reply("", [call("git_status", {})]) for _ in range(2)]
    limited = sii(
        "-p", "loop", "--max-steps", "2", "--output-format", "json", "--base-url", scripted.base_url, cwd=workspace
    )
    (summary,) = [json.loads(line) for line in limited.stdout.splitlines()]
    assert limited.returncode == 3 and summary["reason"] == "step_limit" and summary["steps"] == 2
    assert Path(summary["recording"]).exists() and summary["model"] == "scripted-model"


def test_project_memory_reaches_the_system_prompt(scripted: ScriptedServer, workspace: Path) -> None:
    (workspace / "AGENTS.md").write_text("Always run pytest -q before answering.\n")
    (workspace / "CLAUDE.md").write_text("Use tabs.\n")
    sii("-p", "hi", "--base-url", scripted.base_url, cwd=workspace)
    system = scripted.requests[0]["messages"][0]["content"]
    assert "# AGENTS.md\nAlways run pytest -q before answering." in system and "# CLAUDE.md\nUse tabs." in system


def test_a_server_that_is_down_gives_one_clear_line(workspace: Path, sii_home: Path) -> None:
    result = sii("-p", "hi", "--base-url", "http://127.0.0.1:9/v1", cwd=workspace)
    assert result.returncode == 1, "a server that is down is a model server error"
    assert result.stderr.startswith("sii: error: cannot reach the model server at http://127.0.0.1:9/v1")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for output_format in ("json", "stream-json"):
        result = sii("-p", "hi", "--output-format", output_format, "--base-url", "http://127.0.0.1:9/v1", cwd=workspace)
        (summary,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert result.returncode == 1 and summary["type"] == "result" and summary["is_error"] is True
        assert summary["reason"] == "error" and "cannot reach the model server" in summary["error"]


def test_piped_stdin_is_the_task_or_its_context(scripted: ScriptedServer, workspace: Path) -> None:
    run = [*SII, "--base-url", scripted.base_url]
    result = subprocess.run([*run, "-p", "-"], input="say hello", cwd=workspace, capture_output=True, text=True)
    assert result.returncode == 0 and scripted.requests[-1]["messages"][-1]["content"] == "say hello"
    log = "ERROR 42: disk quota exceeded" + chr(10)
    result = subprocess.run([*run, "-p", "explain"], input=log, cwd=workspace, capture_output=True, text=True)
    assert result.returncode == 0
    task = scripted.requests[-1]["messages"][-1]["content"]
    assert task.startswith("explain") and "ERROR 42: disk quota exceeded" in task


def test_stdin_left_open_and_silent_does_not_hang_a_run(scripted: ScriptedServer, workspace: Path) -> None:
    """A harness that keeps stdin open and writes nothing: the task given with -p runs and the process ends."""
    with subprocess.Popen(
        [*SII, "--base-url", scripted.base_url, "-p", "hi"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=workspace,
    ) as child:
        assert child.wait(timeout=60) == 0
        assert child.stdout is not None and child.stdout.read() == b"done." + bytes([10])
    assert scripted.requests[-1]["messages"][-1]["content"] == "hi"


def spawn_repl(base_url: str, workspace: Path, *flags: str) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120"}
    child = pexpect.spawn(
        SII[0], [*SII[1:], "--base-url", base_url, *flags], cwd=str(workspace), env=env, encoding="utf-8", timeout=30
    )
    child.setwinsize(40, 120)
    child.expect("session \\d{8}-\\d{6}")
    child.expect("›")
    return child


def test_repl_streams_asks_before_writing_and_survives_ctrl_c(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [
        Reply("Hi there, streaming works."),
        Reply("", [call("write_file", {"path": "notes.txt", "content": "remember\n"})]),
        Reply("Wrote notes.txt."),
        Reply("Once upon a time " + "there was a very long story " * 40, delay=0.1),
        Reply("Back again."),
    ]
    child = spawn_repl(scripted.base_url, workspace)
    child.sendline("hello")
    child.expect("streaming works")
    child.expect("›")

    child.sendline("write a note")
    child.expect("Allow write_file\\?")
    child.sendline("y")
    child.expect("Created notes.txt")
    child.expect("Wrote notes.txt")
    child.expect("›")
    assert (workspace / "notes.txt").read_text() == "remember\n"

    child.sendline("tell me a story")
    child.expect("Once upon a time")
    child.sendintr()
    child.expect("\\[interrupted\\]")
    child.expect("›")
    child.sendline("are you there?")
    child.expect("Back again")
    child.expect("›")
    child.sendline("/success all good")
    child.expect("labelled: success")
    child.expect("›")

    child.sendline("/exit")
    child.expect("Session recorded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    trajectory = read_trajectory(only_recording(sii_home))
    reasons = [e["reason"] for e in trajectory.events if e["type"] == "turn_end"]
    assert reasons == ["done", "done", "interrupted", "done"]
    users = [m["content"] for m in trajectory.messages if m["role"] == "user"]
    assert users == ["hello", "write a note", "tell me a story", "are you there?"]
    assert trajectory.meta.ended_at is not None and trajectory.meta.face == "repl"
    assert trajectory.meta.outcome == "success" and trajectory.meta.notes == ["all good"]


def test_repl_exits_on_a_second_ctrl_c(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("Hello.")]
    child = spawn_repl(scripted.base_url, workspace)
    child.sendline("hi")  # a session without a turn leaves no recording (tests/test_session_flags.py)
    child.expect("Hello.")
    child.expect("›")
    child.sendintr()
    child.expect("Ctrl-C again")
    child.sendintr()
    child.expect("Session recorded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert read_trajectory(only_recording(sii_home)).meta.ended_at is not None
