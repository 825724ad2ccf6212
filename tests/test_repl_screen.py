"""The REPL as a person sees it: a real pty read through a terminal emulator (tests/terminal.py), 160x45."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recordings.store import read_trajectory
from recordings.validate import problems
from tests.scripted_server import Reply, ScriptedServer, call
from tests.terminal import Terminal

PARAGRAPHS = [
    "Fixed the sign error in add, which subtracted instead of adding.",
    "The tests in test_calc now pass, and nothing else in the module changed.",
    "Run pytest again whenever you like; the change is one character.",
]


@pytest.fixture
def repl(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> Iterator[Terminal]:
    terminal = Terminal(
        [sys.executable, "-m", "sii", "--base-url", scripted.base_url], cwd=workspace, env={"SII_HOME": str(sii_home)}
    )
    try:
        terminal.wait_for("›")
        yield terminal
    finally:
        terminal.close()


def _spawn(scripted: ScriptedServer, workspace: Path, sii_home: Path, *flags: str) -> Terminal:
    """The REPL on the test terminal, at its first prompt."""
    terminal = Terminal(
        [sys.executable, "-m", "sii", "--base-url", scripted.base_url, *flags],
        cwd=workspace,
        env={"SII_HOME": str(sii_home)},
    )
    terminal.wait_for("›")
    terminal.settle()
    return terminal


def _ask(repl: Terminal, prompt: str, last_words: str) -> list[str]:
    repl.sendline(prompt)
    repl.wait_for(last_words)
    repl.settle()
    return repl.transcript()


def _assert_once_and_no_stale_prefix(lines: list[str], expected: list[str]) -> None:
    for text in expected:
        shown = [line for line in lines if text in line]
        assert len(shown) == 1, f"{text!r} is shown {len(shown)} times:\n" + "\n".join(lines)
        stripped = [line.strip() for line in lines]
        stale = [line for line in stripped if line and text.startswith(line) and line != text]
        assert not stale, f"stale partial lines {stale} of {text!r}:\n" + "\n".join(lines)


def test_a_streamed_three_paragraph_reply_shows_each_line_once(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply("\n\n".join(PARAGRAPHS), chunk=3, delay=0.01)]
    lines = _ask(repl, "fix it", "the change is one character.")
    _assert_once_and_no_stale_prefix(lines, PARAGRAPHS)


def test_a_code_block_taller_than_the_screen_is_shown_once(scripted: ScriptedServer, repl: Terminal) -> None:
    code = [f"value_{n:03d} = compute({n})" for n in range(70)]
    reply = "Here is the file:\n\n```python\n" + "\n".join(code) + "\n```\n\nThat is all of it."
    scripted.script = [Reply(reply, chunk=12, delay=0.005)]
    lines = _ask(repl, "show it", "That is all of it.")
    _assert_once_and_no_stale_prefix(lines, [*code, "Here is the file:", "That is all of it."])


def test_a_table_and_a_list_streamed_leave_no_partial_rows(scripted: ScriptedServer, repl: Terminal) -> None:
    reply = (
        "| file | change |\n|---|---|\n| calc.py | sign fixed |\n| test_calc.py | new test |\n\n"
        "- first item of the list\n- second item of the list\n\nDone with the summary."
    )
    scripted.script = [Reply(reply, chunk=2, delay=0.005)]
    lines = _ask(repl, "summarise", "Done with the summary.")
    for text in ["sign fixed", "new test", "first item of the list", "second item of the list"]:
        assert sum(text in line for line in lines) == 1, "\n".join(lines)


def test_bang_runs_in_the_shell_and_the_model_hears_of_it(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply("I see the output.")]
    repl.sendline("!echo shell-says-$((6*7))")
    repl.wait_for("shell-says-42")
    repl.settle()
    assert scripted.requests == [], "a ! command must not go to the model"
    repl.sendline("what did it print?")
    repl.wait_for("I see the output.")
    sent = scripted.requests[-1]["messages"][-1]["content"]
    assert "$ echo shell-says-$((6*7))" in sent and "shell-says-42" in sent and sent.endswith("what did it print?")


def test_a_prompt_starting_with_a_path_is_a_message_not_a_command(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply("Looking at it.")]
    repl.sendline("/src/app/calc.py has a bug")
    repl.wait_for("Looking at it.")
    assert scripted.requests[-1]["messages"][-1]["content"] == "/src/app/calc.py has a bug"
    repl.sendline("/nosuchcommand")
    repl.wait_for("unknown command /nosuchcommand")


def test_a_mention_of_a_missing_file_is_reported(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply("Ok.")]
    repl.sendline("look at @missing.py and @calc.py")
    repl.wait_for("Ok.")
    lines = repl.transcript()
    assert any("not attached: @missing.py" in line for line in lines), "\n".join(lines)
    assert any("attached: calc.py" in line for line in lines)


def test_continue_shows_the_restored_conversation(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("The first answer."), Reply("The second answer.")]
    base = [sys.executable, "-m", "sii", "--base-url", scripted.base_url]
    for prompt in ("first question", "second question"):
        done = subprocess.run(
            [*base, "--continue", "-p", prompt] if prompt.startswith("second") else [*base, "-p", prompt],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    terminal = Terminal([*base, "--continue"], cwd=workspace, env={"SII_HOME": str(sii_home)})
    try:
        terminal.wait_for("›")
        terminal.settle()
        lines = terminal.transcript()
    finally:
        terminal.close()
    text = "\n".join(lines)
    assert "5 messages restored" in text, text
    assert "› first question" in text and "The first answer." in text
    assert "› second question" in text and "The second answer." in text


def test_rewind_lists_each_turn_confirms_and_can_be_undone(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [
        Reply("", [call("write_file", {"path": "notes.txt", "content": "v1\n"})]),
        Reply("Wrote v1."),
        Reply("", [call("run_shell", {"command": "true"})]),
        Reply("Ran true."),
        Reply("", [call("write_file", {"path": "notes.txt", "content": "v2\n"})]),
        Reply("Wrote v2."),
    ]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("write notes about @calc.py")
        terminal.wait_for("Wrote v1.")
        terminal.sendline("run true")
        terminal.wait_for("Ran true.")
        terminal.sendline("write v2")
        terminal.wait_for("Wrote v2.")
        terminal.sendline("/rewind")
        terminal.wait_for("/rewind N")
        terminal.settle()
        listing = [line for line in terminal.transcript() if "before:" in line]
        assert [line.split("before: ")[1] for line in listing] == [
            "write v2",
            "run true  (changed no files)",
            "write notes about @calc.py",
        ], listing
        terminal.sendline("/rewind 3 files")
        terminal.wait_for("[y/N]")
        terminal.settle()
        assert any("delete" in line and "notes.txt" in line for line in terminal.transcript())
        terminal.sendline("n")
        terminal.wait_for("Nothing rewound.")
        assert (workspace / "notes.txt").read_text() == "v2\n"
        terminal.sendline("/rewind 3 files")
        terminal.wait_for("[y/N]")
        terminal.sendline("y")
        terminal.wait_for("Rewound: 1 file(s) restored")
        assert not (workspace / "notes.txt").exists()
        terminal.sendline("/rewind undo")
        terminal.wait_for("Rewind undone")
        assert (workspace / "notes.txt").read_text() == "v2\n"
    finally:
        terminal.close()


def _seen_while_waiting(terminal: Terminal, text: str, until: str, timeout: float = 30.0) -> list[str]:
    """Every screen line containing `text` shown before `until` appears (the spinner is transient: look while
    it runs)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        terminal.pump(0.1)
        lines = terminal.screen_lines()
        seen += [line for line in lines if text in line]
        if any(until in line for line in terminal.transcript()):
            return seen
    raise AssertionError(f"{until!r} never appeared")


def test_a_running_shell_command_shows_elapsed_time(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    scripted.script = [Reply("", [call("run_shell", {"command": "sleep 3"})]), Reply("Slept well.")]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("sleep a bit")
        seen = _seen_while_waiting(terminal, "running run_shell", until="Slept well.")
        assert any("running run_shell · 2s" in line for line in seen), seen
        terminal.settle()
        assert not any("running run_shell" in line for line in terminal.transcript()), "the spinner was left behind"
    finally:
        terminal.close()


def test_waiting_for_the_first_token_shows_elapsed_time(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply("Slow but here.", chunk=100, delay=2.5)]
    repl.sendline("hello")
    seen = _seen_while_waiting(repl, "waiting for the model", until="Slow but here.")
    assert any("waiting for the model · 1s" in line or "waiting for the model · 2s" in line for line in seen), seen
    repl.settle()
    assert not any("waiting for the model" in line for line in repl.transcript())


def test_a_shell_command_is_shown_whole_before_asking(scripted: ScriptedServer, repl: Terminal) -> None:
    command = "python - <<'EOF'\nimport pathlib\npathlib.Path('out.txt').write_text('ok')\nEOF"
    scripted.script = [Reply("", [call("run_shell", {"command": command})]), Reply("Ran it.")]
    repl.sendline("run it")
    repl.wait_for("Allow run_shell?")
    repl.settle()
    screen = repl.transcript()
    asked = max(i for i, line in enumerate(screen) if "Allow run_shell?" in line)
    assert any("pathlib.Path('out.txt').write_text('ok')" in line for line in screen[:asked]), "\n".join(screen)
    repl.sendline("y")
    repl.wait_for("Ran it.")


def test_always_on_one_command_still_asks_for_another(
    scripted: ScriptedServer, repl: Terminal, workspace: Path
) -> None:
    scripted.script = [
        Reply("", [call("run_shell", {"command": "pytest -q"})]),
        Reply("", [call("run_shell", {"command": "pytest -q tests"})]),
        Reply("", [call("run_shell", {"command": "touch other.txt"})]),
        Reply("Stopped."),
    ]
    repl.sendline("test it")
    repl.wait_for("[a]lways allow commands starting with `pytest`")
    repl.sendline("a")
    repl.wait_for("run_shell(touch other.txt)", timeout=30)  # the second pytest ran unasked; `touch` asks
    repl.settle()
    assert sum("Allow run_shell?" in line for line in repl.transcript()) == 2
    assert any("touch other.txt" in line for line in repl.transcript())
    repl.sendline("n")
    repl.wait_for("Why not?")
    repl.sendline("no new files please")
    repl.wait_for("stopped: you declined a call")
    repl.settle()
    assert not (workspace / "other.txt").exists()
    assert len(scripted.requests) == 3, "the turn stops at the refusal: the model is not asked again"
    repl.sendline("fine, what now?")
    repl.wait_for("Stopped.")
    told = [m["content"] for m in scripted.requests[-1]["messages"] if m["role"] == "tool"]
    assert any("declined this call: no new files please" in text for text in told), told
    repl.sendline("/permissions")
    repl.wait_for("commands starting with pytest")
    repl.sendline("/permissions revoke 1")
    repl.wait_for("revoked: pytest asks again")


def test_the_approval_prompt_shows_the_diff_before_asking(
    scripted: ScriptedServer, repl: Terminal, workspace: Path
) -> None:
    patch = "*** Begin Patch\n*** Update File: calc.py\n@@\n-    return a - b\n+    return a + b\n*** End Patch\n"
    scripted.script = [Reply("", [call("apply_patch", {"patch": patch})]), Reply("Patched.")]
    repl.sendline("fix add")
    repl.wait_for("Allow apply_patch?")
    repl.settle()
    screen = repl.transcript()
    asked = max(i for i, line in enumerate(screen) if "Allow apply_patch?" in line)
    before = screen[:asked]
    assert any(line.strip().startswith("-") and "return a - b" in line for line in before), "\n".join(screen)
    assert any(line.strip().startswith("+") and "return a + b" in line for line in before), "\n".join(screen)
    assert "a - b" in (workspace / "calc.py").read_text()  # nothing written before the answer
    repl.sendline("y")
    repl.wait_for("Patched.")
    assert "a + b" in (workspace / "calc.py").read_text()


def test_an_edit_file_approval_shows_its_diff_and_nothing_is_written_on_no(
    scripted: ScriptedServer, repl: Terminal, workspace: Path
) -> None:
    edit = {"path": "calc.py", "old_string": "return a - b", "new_string": "return a * b"}
    scripted.script = [Reply("", [call("edit_file", edit)]), Reply("Understood.")]
    repl.sendline("make it multiply")
    repl.wait_for("Allow edit_file?")
    repl.settle()
    screen = repl.transcript()
    asked = max(i for i, line in enumerate(screen) if "Allow edit_file?" in line)
    assert any(line.strip().startswith("+") and "return a * b" in line for line in screen[:asked]), "\n".join(screen)
    repl.sendline("n")
    repl.wait_for("Why not?")
    repl.sendline("")
    repl.wait_for("stopped: you declined a call")
    assert "a - b" in (workspace / "calc.py").read_text()


def _status_line(terminal: Terminal) -> str:
    terminal.settle()
    return next(line for line in reversed(terminal.screen_lines()) if "tokens" in line)


def test_a_named_model_still_shows_the_context_window(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [Reply("Hello.")]
    terminal = _spawn(scripted, workspace, sii_home, "--model", "scripted-model")
    try:
        terminal.sendline("hi")
        terminal.wait_for("Hello.")
        assert "/32,768 tokens" in _status_line(terminal)
    finally:
        terminal.close()


def test_a_server_that_reports_no_window_uses_the_configured_one(workspace: Path, sii_home: Path) -> None:
    (sii_home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (sii_home / "config.toml").write_text("context_window = 8192\n")
    with ScriptedServer([Reply("Hello.")], advertise_window=False) as server:
        terminal = Terminal(
            [sys.executable, "-m", "sii", "--base-url", server.base_url, "--model", "scripted-model"],
            cwd=workspace,
            env={"SII_HOME": str(sii_home)},
        )
        try:
            terminal.wait_for("›")
            terminal.sendline("hi")
            terminal.wait_for("Hello.")
            assert "/8,192 tokens" in _status_line(terminal)
        finally:
            terminal.close()


def test_a_running_command_shows_its_output_live_then_folds_it(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    command = "for n in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line-$n; sleep 0.3; done"
    scripted.script = [Reply("", [call("run_shell", {"command": command})]), Reply("Counted.")]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("count")
        live = _seen_while_waiting(terminal, "│ line-", until="Counted.")
        assert any("│ line-3" in line for line in live), live  # seen while it ran
        terminal.settle()
        final = terminal.transcript()
        assert not any("│ line-" in line for line in final), "the live view was left behind"
        assert sum(line.strip().removeprefix("⎿").strip() == "line-1" for line in final) == 1, final
        assert any("more lines (/output shows them)" in line for line in final)
    finally:
        terminal.close()


def test_a_reply_stopped_by_ctrl_c_stays_in_the_conversation(
    scripted: ScriptedServer, repl: Terminal, sii_home: Path
) -> None:
    story = "Once upon a time " + "there was a very long story " * 60
    scripted.script = [Reply(story, chunk=8, delay=0.05), Reply("Back again.")]
    repl.sendline("tell a story")
    repl.wait_for("there was a very long story")
    repl.send("\x03")
    repl.wait_for("interrupted")
    repl.sendline("shorter please")
    repl.wait_for("Back again.")
    messages = scripted.requests[-1]["messages"]
    assert [m["role"] for m in messages[-3:]] == ["user", "assistant", "user"]
    kept = messages[-2]["content"]
    assert kept.startswith("Once upon a time") and len(kept) < len(story)
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == []
    assert any(extra.get("finish_reason") == "interrupted" for extra in trajectory.extras)


LONG_REPLY = Reply(" ".join(f"word{n}" for n in range(600)), chunk=3, delay=0.03)  # about 30 s if not stopped


def test_esc_stops_a_streaming_reply_like_ctrl_c(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [LONG_REPLY, Reply("Still here.")]
    repl.sendline("talk a lot")
    repl.wait_for("word20")
    started = time.monotonic()
    repl.send("\x1b")
    repl.wait_for("[interrupted]", timeout=10)
    assert time.monotonic() - started < 5
    repl.settle()
    assert not any("word599" in line for line in repl.transcript())
    repl.sendline("are you there?")
    repl.wait_for("Still here.")
    assert scripted.requests[-1]["messages"][-1]["content"] == "are you there?"


def test_esc_stops_a_running_tool_and_the_call_is_answered(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [Reply("", [call("run_shell", {"command": "sleep 30; echo never"})]), Reply("Moving on.")]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("sleep")
        terminal.wait_for("running run_shell")
        time.sleep(0.5)
        started = time.monotonic()
        terminal.send("\x1b")
        terminal.wait_for("[interrupted]", timeout=10)
        assert time.monotonic() - started < 8
        terminal.wait_for("›")
        terminal.sendline("next")
        terminal.wait_for("Moving on.")
        told = [m["content"] for m in scripted.requests[-1]["messages"] if m["role"] == "tool"]
        assert len(told) == 1 and "Interrupted by the user" in told[0] and "never" not in told[0], told
    finally:
        terminal.close()


def test_keys_typed_during_a_turn_wait_at_the_next_prompt(scripted: ScriptedServer, repl: Terminal) -> None:
    scripted.script = [Reply(" ".join(f"part{n}" for n in range(60)), chunk=3, delay=0.03), Reply("Got it.")]
    repl.sendline("talk")
    repl.wait_for("part3")
    repl.send("\x1b[D\x1bOD")  # arrow keys (CSI and SS3 forms): sequences, not a lone Esc
    repl.send("later message")
    repl.wait_for("part59")
    repl.settle()
    lines = repl.transcript()
    assert not any("interrupted" in line for line in lines), "\n".join(lines)
    typed = [line for line in lines if "later message" in line]
    assert typed == ["› later message"], "typed keys must not be echoed over the reply:\n" + "\n".join(lines)
    repl.sendline("")
    repl.wait_for("Got it.")
    assert scripted.requests[-1]["messages"][-1]["content"] == "later message"


def test_type_ahead_never_answers_an_approval_question(
    scripted: ScriptedServer, repl: Terminal, workspace: Path
) -> None:
    slow = Reply("I will write the file now, " * 8, [call("write_file", {"path": "x.txt", "content": "x"})], delay=0.02)
    scripted.script = [slow]
    repl.sendline("write x")
    repl.wait_for("I will write")
    repl.sendline("y")  # typed before the question was shown
    repl.wait_for("Allow write_file?")
    repl.settle()
    assert not (workspace / "x.txt").exists(), "keys typed before the question answered it"
    repl.sendline("n")
    repl.wait_for("Why not?")
    repl.sendline("")
    repl.wait_for("stopped: you declined a call")
    assert not (workspace / "x.txt").exists()


def test_shift_tab_cycles_the_mode_and_the_next_call_uses_it(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [
        Reply("", [call("write_file", {"path": "a.txt", "content": "auto\n"})]),
        Reply("Wrote a."),
        Reply("", [call("write_file", {"path": "b.txt", "content": "planned\n"})]),
        Reply("Could not write b."),
    ]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    shift_tab = "\x1b[Z"
    try:
        assert any("mode yolo" in line for line in terminal.screen_lines())
        for expected in ("ask", "auto-edit", "plan", "ask", "auto-edit"):  # yolo is left, never cycled back to
            terminal.send(shift_tab)
            terminal.wait_for(f"mode {expected} ")
            terminal.settle(0.2)
            assert sum(f"mode {expected} " in line for line in terminal.screen_lines()) == 1
        terminal.sendline("write a")
        terminal.wait_for("Wrote a.")
        assert (workspace / "a.txt").read_text() == "auto\n"  # auto-edit: the edit ran unasked
        terminal.send(shift_tab)
        terminal.wait_for("mode plan ")
        terminal.sendline("write b")
        terminal.wait_for("Could not write b.")
        assert not (workspace / "b.txt").exists()  # plan: read-only
        assert not any("Allow write_file?" in line for line in terminal.transcript())
    finally:
        terminal.close()


def test_undo_reverts_the_last_turns_files_and_keeps_the_conversation(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    scripted.script = [
        Reply("", [call("write_file", {"path": "notes.txt", "content": "v1\n"})]),
        Reply("", [call("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"})]),
        Reply("Fixed and noted."),
        Reply("I remember the fix."),
    ]
    original = (workspace / "calc.py").read_text()
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("/undo")
        terminal.wait_for("nothing to undo: no turn has changed files yet")
        terminal.sendline("fix it and take notes")
        terminal.wait_for("Fixed and noted.")
        terminal.sendline("/undo")
        terminal.wait_for("[y/N]")
        terminal.settle()
        shown = terminal.transcript()
        assert any("delete" in line and "notes.txt" in line for line in shown), "\n".join(shown)
        assert any("restore" in line and "calc.py" in line for line in shown), "\n".join(shown)
        terminal.sendline("n")
        terminal.wait_for("Nothing rewound.")
        assert (workspace / "notes.txt").exists()
        terminal.sendline("/undo")
        terminal.wait_for("[y/N]")
        terminal.sendline("y")
        terminal.wait_for("Rewound: 2 file(s) restored; conversation kept.")
        assert not (workspace / "notes.txt").exists() and (workspace / "calc.py").read_text() == original
        terminal.sendline("/undo")
        terminal.wait_for("nothing to undo: the files are as they were before “fix it and take notes”")
        terminal.sendline("what did you fix?")
        terminal.wait_for("I remember the fix.")
        sent = [m.get("content") for m in scripted.requests[-1]["messages"]]
        assert "fix it and take notes" in sent and "Fixed and noted." in sent  # the conversation stayed
        terminal.sendline("/rewind undo")
        terminal.wait_for("Rewind undone")
        assert (workspace / "notes.txt").read_text() == "v1\n" and "a + b" in (workspace / "calc.py").read_text()
    finally:
        terminal.close()


def test_custom_commands_from_the_project_and_the_user(
    scripted: ScriptedServer, workspace: Path, sii_home: Path, tmp_path: Path
) -> None:
    project = workspace / ".sii" / "commands"
    project.mkdir(parents=True)
    (project / "review.md").write_text(
        "---\ndescription: Review [bold red]with care[/] \x1b[2J\nallowed-tools: Bash\n---\n"
        "Review $ARGUMENTS carefully; then review $ARGUMENTS again.\n"
    )
    (project / "help.md").write_text("a project cannot replace a built-in command")
    (project / "greet.md").write_text("the project's greeting")
    (project / "big.md").write_text("x" * 40_000)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    (project / "leak.md").symlink_to(secret)
    (project / "bad name.md").write_text("a name with a space")
    user = sii_home / "commands"
    user.mkdir(parents=True)
    (user / "greet.md").write_text("Say hello to the team.")
    scripted.script = [Reply("Reviewed."), Reply("Hello, team."), Reply("Plain.")]
    terminal = _spawn(scripted, workspace, sii_home)
    try:
        terminal.sendline("/help")
        terminal.wait_for("Shift-Tab")
        terminal.settle()
        shown = terminal.transcript()
        text = "\n".join(shown)
        assert any("/review [ARGS]" in line and "Review [bold red]with care[/] [2J" in line for line in shown), text
        assert any(line.lstrip().startswith("/greet [ARGS]") for line in shown), text
        assert "/help [ARGS]" not in text and "/leak" not in text.replace("leak.md", "")
        assert "big.md: larger than 32 KiB" in text and "leak.md: a link" in text, text
        assert "sii " in shown[0], "an escape sequence in a description cleared the screen"
        terminal.sendline("/review calc.py")
        terminal.wait_for("Reviewed.")
        assert any("/review: sending" in line and "review.md" in line for line in terminal.transcript())
        sent = scripted.requests[-1]["messages"][-1]["content"]
        assert sent == "Review calc.py carefully; then review calc.py again."
        terminal.sendline("/greet")
        terminal.wait_for("Hello, team.")
        assert scripted.requests[-1]["messages"][-1]["content"] == "Say hello to the team."  # the user's wins
        terminal.sendline("/leak")
        terminal.wait_for("unknown command /leak")
        assert all("TOP-SECRET-TOKEN" not in str(r.get("messages")) for r in scripted.requests)
        assert len(scripted.requests) == 2
    finally:
        terminal.close()


def test_output_shows_the_whole_output_the_model_only_saw_cut(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    """The model sees a capped head and tail of a big output; /output gives the person all of it."""
    command = "seq 1 8000"  # ~39 KB: twice what the model is shown, and within the test terminal's scroll-back
    scripted.script = [Reply("", [call("run_shell", {"command": command})]), Reply("Counted.")]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("count")
        terminal.wait_for("Counted.")
        told = next(m["content"] for m in scripted.requests[-1]["messages"] if m["role"] == "tool")
        assert "\n4000\n" not in told and "bytes elided" in told  # the model saw it cut
        terminal.sendline("/output")
        terminal.wait_for("7999")
        terminal.settle()
        lines = [line.strip() for line in terminal.transcript()]
        assert "4000" in lines and "7999" in lines, lines[-20:]
    finally:
        terminal.close()


def test_a_long_tool_call_being_written_shows_its_progress(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    content = "".join(f"line {n}\n" for n in range(400))  # ~3.6k characters of arguments, streamed in pieces
    scripted.script = [
        Reply("", [call("write_file", {"path": "big.txt", "content": content})], delay=0.004),
        Reply("Written."),
    ]
    terminal = _spawn(scripted, workspace, sii_home, "--yolo")
    try:
        terminal.sendline("write it")
        seen = _seen_while_waiting(terminal, "writing a write_file call", until="Written.")
        counts = {line.split("· ")[-1].split(" characters")[0] for line in seen if "characters" in line}
        assert len(counts) >= 2, seen  # the count grows while the call streams
        terminal.settle()
        assert not any("writing a write_file call" in line for line in terminal.transcript())
        assert (workspace / "big.txt").read_text() == content
    finally:
        terminal.close()
