"""The REPL as a person sees it: a real pty read through a terminal emulator (tests/terminal.py), 160x45."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer
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
