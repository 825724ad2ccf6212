"""Slash commands, @mentions, completion, and resuming a session after the process was killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.typeahead import get_typeahead
from prompt_toolkit.keys import Keys

from recordings.store import read_trajectory, recordings_dir
from sii.agent import INTERRUPTED
from sii.custom_commands import MAX_COMMANDS, load_custom_commands
from sii.esc_watcher import EscWatcher
from sii.mentions import expand_mentions
from sii.repl import PromptCompleter, next_mode
from tests.scripted_server import Reply, ScriptedServer, call
from tests.slow_git import slow_git_add, unanswered
from tests.test_faces import only_recording, sii, spawn_repl
from tests.tooling import wait_for
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


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    """A real pseudo-terminal: (master, slave), in the cooked mode a shell leaves it in."""
    master, slave = os.openpty()
    try:
        yield master, slave
    finally:
        os.close(master)
        os.close(slave)


def test_the_esc_watcher_gives_the_terminal_back_however_the_turn_ends(pty_pair: tuple[int, int]) -> None:
    _, slave = pty_pair
    before = termios.tcgetattr(slave)
    watcher = EscWatcher(slave)
    with pytest.raises(RuntimeError), watcher.watching():
        assert not termios.tcgetattr(slave)[3] & (termios.ECHO | termios.ICANON)  # typed keys are not echoed
        with watcher.paused():  # an approval question reads the terminal in its own mode
            assert termios.tcgetattr(slave) == before
        assert not termios.tcgetattr(slave)[3] & termios.ECHO
        raise RuntimeError("the turn failed")
    assert termios.tcgetattr(slave) == before


def test_an_esc_as_the_turn_ends_still_leaves_the_terminal_as_it_was(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    watcher = EscWatcher(slave)
    with pytest.raises(KeyboardInterrupt), watcher.watching():
        os.write(master, b"\x1b")
        time.sleep(0.025)  # read, and waiting for the rest of a key's sequence, as the turn ends: it lands in _stop
    assert termios.tcgetattr(slave) == before


def test_a_lone_esc_interrupts_once_and_other_keys_are_kept(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    watcher = EscWatcher(slave)
    os.write(master, b"ty")  # typed before the turn began: switching modes must not flush it
    with watcher.watching():
        os.write(master, b"\x1b[A\x1bOBped")  # arrow keys (CSI, SS3) arrive whole: not an interrupt
        time.sleep(0.3)
        with pytest.raises(KeyboardInterrupt):
            os.write(master, b"\x1b")
            time.sleep(5)
        os.write(master, b"\x1b")  # a second Esc in the same turn: the turn is already ending
        time.sleep(0.3)
    with create_pipe_input() as prompt_input:
        watcher.hand_over(prompt_input)
        keys = [key.key for key in get_typeahead(prompt_input)]
    assert keys == ["t", "y", Keys.Up, Keys.Down, "p", "e", "d"]


def test_the_esc_watcher_does_nothing_off_a_terminal() -> None:
    read_end, write_end = os.pipe()  # `sii < file`: stdin is no terminal, so nothing is read from it
    try:
        watcher = EscWatcher(read_end)
        os.write(write_end, b"\x1b")
        with watcher.watching():
            time.sleep(0.2)
        assert os.read(read_end, 1) == b"\x1b"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_shift_tab_cycles_ask_auto_edit_plan_and_leaves_yolo() -> None:
    assert [next_mode(mode) for mode in ("ask", "auto-edit", "plan", "yolo")] == ["auto-edit", "plan", "ask", "ask"]


def _command_file(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


def test_custom_command_files_an_attacker_might_plant(workspace: Path, tmp_path: Path) -> None:
    project = workspace / ".sii" / "commands"
    _command_file(project, "plain.md", "Explain the code.")
    _command_file(project, "broken.md", "---\ndescription: [unclosed\n---\nBody after broken front matter.")
    _command_file(project, "long.md", "---\ndescription: " + "d" * 500 + "\n---\n$ARGUMENTS")
    _command_file(project, "empty.md", "---\ndescription: nothing\n---\n   \n")
    (project / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    os.mkfifo(project / "fifo.md")  # reading a FIFO would hang the REPL
    outside = _command_file(tmp_path / "elsewhere", "stolen.md", "the user's private notes")
    (project / "nested").mkdir()
    (project / "nested" / "deep.md").write_text("not a top-level command")
    found, problems = load_custom_commands(workspace)
    assert sorted(found) == ["/broken", "/long", "/plain"]
    assert found["/plain"].prompt("calc.py") == "Explain the code.\n\nARGUMENTS: calc.py"  # arguments not lost
    assert found["/plain"].prompt("") == "Explain the code."
    assert found["/broken"].description == "" and found["/broken"].prompt("") == "Body after broken front matter."
    assert len(found["/long"].description) == 120
    reasons = {Path(problem.split(": ", 1)[0]).name: problem.split(": ", 1)[1] for problem in problems}
    assert reasons == {
        "empty.md": "no prompt text",
        "fifo.md": "not a plain file",
        "latin1.md": "not UTF-8 text",
    }, problems
    # `.sii` as a link out of the workspace: nothing in it is read
    shutil.rmtree(workspace / ".sii")
    (workspace / ".sii").mkdir()
    (workspace / ".sii" / "commands").symlink_to(outside.parent)
    found, problems = load_custom_commands(workspace)
    assert found == {} and "stolen.md: a link, or outside" in problems[0]


def test_custom_commands_complete_and_never_shadow_built_ins(workspace: Path) -> None:
    project = workspace / ".sii" / "commands"
    _command_file(project, "review.md", "---\ndescription: review the diff\n---\nReview it.")
    _command_file(project, "help.md", "not the real help")
    completer = PromptCompleter(workspace)
    assert completions(completer, "/rev") == ["/review"]
    assert completions(completer, "/he") == ["/help"]
    (shown,) = [c for c in completer.get_completions(Document("/rev"), CompleteEvent(completion_requested=True))]
    assert shown.display_meta_text == "review the diff"


def test_a_repository_planting_thousands_of_commands_gets_a_bounded_list(workspace: Path) -> None:
    project = workspace / ".sii" / "commands"
    project.mkdir(parents=True)
    for number in range(MAX_COMMANDS + 50):
        (project / f"c{number:04d}.md").write_text("x")
    found, problems = load_custom_commands(workspace)
    assert len(found) == MAX_COMMANDS
    assert problems == [f"{project}: {MAX_COMMANDS + 50} files, only the first {MAX_COMMANDS} are read"]


def test_ctrl_c_inside_the_checkpoint_snapshot_leaves_every_call_answered(
    scripted: ScriptedServer, workspace: Path, sii_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the checkpoint's `git add` runs: the turn ends there, and the next message's request answers
    both calls of the interrupted reply (a server would refuse a conversation with a call left open)."""
    marker = slow_git_add(tmp_path / "bin", monkeypatch)
    scripted.script = [
        Reply("", [call("write_file", {"path": "new.txt", "content": "x\n"}), call("read_file", {"path": "calc.py"})]),
        Reply("Going on."),
    ]
    child = spawn_repl(scripted.base_url, workspace, "--yolo")
    child.sendline("write it")
    wait_for(marker.exists, timeout=20)
    child.sendintr()
    child.expect("›")
    child.sendline("go on")
    child.expect("Going on.")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    sent = scripted.requests[-1]["messages"]
    assert unanswered(sent) == [] and [m["role"] for m in sent][-4:] == ["assistant", "tool", "tool", "user"]
    assert not (workspace / "new.txt").exists()
    messages = read_trajectory(only_recording(sii_home)).messages
    assert [m["content"] for m in messages if m["role"] == "tool"] == [INTERRUPTED, INTERRUPTED]
