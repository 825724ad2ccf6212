"""Slash commands, @mentions, completion, and resuming a session after the process was killed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pexpect
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from recordings.store import read_trajectory, recordings_dir
from sii.mentions import expand_mentions
from sii.repl import PromptCompleter
from tests.scripted_server import Reply, ScriptedServer, call
from tests.test_faces import only_recording, sii, spawn_repl
from tools import ToolContext


def test_mentions_attach_workspace_files_only(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    text, attached = expand_mentions("look at @calc.py, and @missing.py and @../outside.txt", ToolContext(workspace))
    assert attached == ["calc.py"]
    assert '<file path="calc.py">\ndef add(a, b):\n    return a - b\n\n</file>' in text
    assert "secret" not in text
    assert expand_mentions("mail me at a@b.com", ToolContext(workspace)) == ("mail me at a@b.com", [])


def completions(completer: PromptCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_completion_of_commands_and_paths(workspace: Path) -> None:
    completer = PromptCompleter(workspace)
    assert completions(completer, "/res") == ["/resume"]
    assert completions(completer, "/re") == ["/resume", "/rewind"]
    assert "/success" in completions(completer, "/")
    assert completions(completer, "fix @cal") == ["c.py"]


def test_slash_commands_in_the_repl(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("", [call("read_file", {"path": "long.txt"})]), Reply("It subtracts.")]
    (workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (workspace / "long.txt").write_text("".join(f"row {n}\n" for n in range(1, 31)))
    child = spawn_repl(scripted.base_url, workspace)
    child.sendline("/mode plan")
    child.expect("● plan")
    child.sendline("what does @calc.py do?")
    child.expect("attached: calc.py")
    child.expect("more lines \\(/output shows them\\)")
    child.expect("It subtracts.")
    assert "def add(a, b)" in scripted.requests[0]["messages"][-1]["content"]
    child.sendline("/output")
    child.expect("30\\s+row 30")
    child.sendline("/output 2")
    child.expect("only 1 tool result")
    child.sendline("/cost")
    child.expect("context: [1-9][\\d,]* / 32,768 tokens")
    child.sendline("/diff")
    child.expect("\\+    return a \\+ b")
    child.sendline("/model")
    child.expect("● scripted-model")
    child.sendline("/frobnicate")
    child.expect("unknown command /frobnicate")
    first_id = only_recording(sii_home).stem
    child.sendline("/clear")
    child.expect("New session")
    child.sendline("hello again")  # a session's recording starts with its first message
    child.expect("done.")
    child.expect("›")
    child.sendline("/resume")
    child.expect(first_id)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    assert len(list(recordings_dir(sii_home).glob("*.jsonl"))) == 2


def test_ctrl_c_interrupts_a_running_shell_command(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [
        Reply("", [call("run_shell", {"command": "sleep 30; echo never"})]),
        Reply("", [call("run_shell", {"command": "echo shell-still-alive"})]),
        Reply("Done."),
    ]
    child = spawn_repl(scripted.base_url, workspace, "--yolo")
    child.sendline("sleep")
    child.expect("run_shell\\(sleep 30")
    time.sleep(1)
    started = time.monotonic()
    child.sendintr()
    child.expect("\\[interrupted\\]")
    assert time.monotonic() - started < 10
    child.expect("›")
    child.sendline("again")
    child.expect("shell-still-alive")
    child.expect("Done.")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    tool_messages = [m for m in read_trajectory(only_recording(sii_home)).messages if m["role"] == "tool"]
    assert "Interrupted by the user" in tool_messages[0]["content"]
    assert "never" not in tool_messages[0]["content"]


def test_continue_after_a_kill_mid_tool(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("", [call("run_shell", {"command": "sleep 60"})])]
    child = spawn_repl(scripted.base_url, workspace, "--yolo")
    child.sendline("wait a minute")
    child.expect("run_shell\\(sleep 60\\)")
    time.sleep(0.5)
    child.kill(signal.SIGKILL)
    child.wait()

    path = only_recording(sii_home)
    assert [m["role"] for m in read_trajectory(path).messages][-2:] == ["user", "assistant"]  # the call dangles
    scripted.script = [Reply("Picked up where we left off.")]
    result = sii("--continue", "-p", "go on", "--base-url", scripted.base_url, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Picked up where we left off.\n"
    sent = scripted.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert "ended before this call finished" in sent[3]["content"]
    trajectory = read_trajectory(path)  # the same recording goes on
    assert trajectory.messages[-1]["content"] == "Picked up where we left off."
    assert [e["face"] for e in trajectory.events if e["type"] == "resume"] == ["headless"]


def test_fork_goes_on_in_a_new_recording(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("First answer."), Reply("Forked answer.")]
    assert sii("-p", "start", "--base-url", scripted.base_url, cwd=workspace).returncode == 0
    parent = only_recording(sii_home)
    forked = sii("--continue", "--fork", "-p", "branch off", "--base-url", scripted.base_url, cwd=workspace)
    assert forked.returncode == 0, forked.stderr
    (child,) = [p for p in recordings_dir(sii_home).glob("*.jsonl") if p != parent]
    trajectory = read_trajectory(child)
    assert trajectory.meta.parent_session == parent.stem
    assert [m["content"] for m in trajectory.messages[1:]] == ["start", "First answer.", "branch off", "Forked answer."]
    assert len(read_trajectory(parent).messages) == 3  # the parent is untouched


def test_recordings_can_go_to_a_shared_folder(
    scripted: ScriptedServer, workspace: Path, tmp_path: Path, sii_home: Path
) -> None:
    shared = tmp_path / "team-recordings"
    (sii_home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (sii_home / "config.toml").write_text(f'recordings_dir = "{shared}"\n')
    assert sii("-p", "hi", "--base-url", scripted.base_url, cwd=workspace).returncode == 0
    (path,) = shared.glob("*.jsonl")
    assert read_trajectory(path).meta.chat_template is None  # sii knows no template for a foreign model
    assert json.loads(sii("recordings", "stats", "--json", cwd=workspace).stdout)["sessions"] == 1
