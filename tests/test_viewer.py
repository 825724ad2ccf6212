"""The recordings viewer shows real recordings readably and appends every curation to the session's file."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.widgets import DataTable, Static

from recordings.viewer import Viewer
from recordings.viewer_commands import register, view_command
from recordings.viewer_widgets import Fold, Transcript, TurnView, load_session
from tests.tooling import make_recording

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object", "required": required}}}
    for name, required in [("edit_file", ["path", "old_string", "new_string"]), ("run_shell", ["command"])]
]
DIFF = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def record(path: Path, started_at: float, records: list[tuple[str, dict[str, Any]]], label: str | None = None) -> Path:
    return make_recording(path, records, tools=TOOLS, label=label, face="repl", model="qwen", started_at=started_at)


def message(role: str, content: str | None, **extra: Any) -> tuple[str, dict[str, Any]]:
    fields = {k: extra.pop(k) for k in ("data", "is_error") if k in extra}
    return "message", {"message": {"role": role, "content": content, **extra}, **fields}


def bugfix_session(directory: Path) -> Path:
    """Two turns: an edit with a diff (after some reasoning), then a long test run, a compaction, a Ctrl-C."""
    edit = call("c1", "edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})
    shell = call("c2", "run_shell", {"timeout": 60, "command": "pytest -q"})
    output = "\n".join(f"test line {i}" for i in range(30))
    return record(
        directory / "20261125-000001-aaaaaa.jsonl",
        100.0,
        [
            message("system", "You are sii.\nBe brief."),
            message("user", "Fix the add bug in calc.py"),
            message("assistant", None, reasoning="The add function subtracts instead.", tool_calls=[edit]),
            message("tool", "Edited calc.py (1 replacement).", tool_call_id="c1", data={"diff": DIFF}),
            message("assistant", "Fixed: `add` now adds."),
            ("turn_end", {"reason": "done", "steps": 2}),
            message("user", "Run the tests"),
            message("assistant", None, tool_calls=[shell]),
            message("tool", output, tool_call_id="c2", is_error=False, data={"exit_code": 0}),
            ("compaction", {"summary": "Fixed add; ran the tests.", "messages": [], "tokens_before": 12000}),
            ("turn_end", {"reason": "interrupted", "steps": 1}),
        ],
        label="success",
    )


def sessions(directory: Path) -> tuple[Path, Path, Path]:
    bugfix = bugfix_session(directory)
    readme = record(
        directory / "20261125-000002-bbbbbb.jsonl",
        200.0,
        [message("user", "Explain the README"), message("assistant", "It is short.")],
    )
    rename = record(
        directory / "20261125-000003-cccccc.jsonl",
        300.0,
        [message("user", "Rename the module"), message("assistant", "Done.")],
        label="fail",
    )
    return bugfix, readme, rename


def rendered(app: Viewer) -> str:
    """The transcript's text as rich renders it, folded parts included."""
    console = Console(width=200, record=True, file=io.StringIO())
    transcript = app.query_one(Transcript)
    for static in transcript.query(Static):
        console.print(static.content)
    for fold in transcript.query(Fold):
        console.print(fold.title, fold.body)
    return console.export_text()


async def settled(app: Viewer) -> None:
    """Wait until the transcript's turns are mounted (they mount in the background)."""
    await app.workers.wait_for_complete()
    await asyncio.sleep(0.05)


def rows(app: Viewer) -> list[list[str]]:
    table = app.query_one("#sessions", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def appended(path: Path, after: int) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text().splitlines()][after:]
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def test_browse_filter_and_curate(tmp_path: Path) -> None:
    bugfix, readme, _ = sessions(tmp_path)
    lines_before = len(bugfix.read_text().splitlines())

    async def scenario() -> None:
        app = Viewer(tmp_path)
        async with app.run_test(size=(180, 50)) as pilot:
            await settled(app)
            assert [row[0] for row in rows(app)] == [
                "20261125-000003-cccccc",
                "20261125-000002-bbbbbb",
                "20261125-000001-aaaaaa",
            ]
            assert [row[4] for row in rows(app)] == ["fail", "-", "success"]

            await pilot.press("slash", *"readme", "enter")
            await settled(app)
            assert [row[0] for row in rows(app)] == ["20261125-000002-bbbbbb"]
            assert app.view is not None and app.view.path == readme and "It is short." in rendered(app)
            await pilot.press("slash", *["backspace"] * 6, "escape")
            counts = []
            for _ in range(5):  # success, fail, unknown, unlabelled, all
                await pilot.press("l")
                counts.append(len(rows(app)))
            assert counts == [1, 1, 0, 1, 3]

            await pilot.press("down")
            await settled(app)
            assert app.view is not None and app.view.path == bugfix
            text = rendered(app)
            for expected in [
                "system prompt (2 lines)",
                "thinking: The add function subtracts instead.",
                "⏺ edit_file(calc.py)",
                "⏺ run_shell(pytest -q)",
                '"new_string": "a + b"',
                "+    return a + b",
                "(30 lines)",
                "compacted 12,000 tokens",
                "── interrupted ──",
                "outcome: success",
            ]:
                assert expected in text, expected
            result = next(fold for fold in app.query(Fold) if "(30 lines)" in fold.title)
            assert result.collapsed
            result.focus()
            await pilot.press("enter")
            assert not result.collapsed

            await pilot.press("f")
            assert rows(app)[2][4] == "fail" and "outcome: fail" in rendered(app)
            await pilot.press("s", "n", *"abandoned", "escape")
            await pilot.press("n", *"diff looks right", "enter")
            await pilot.press("t", *"bugfix, python,bugfix", "enter")
            assert rows(app)[2][6] == "bugfix, python"
            await pilot.press("j", "x", "x", "x")
            turns = list(app.query(TurnView))
            assert [t.has_class("excluded") for t in turns] == [False, False, True]
            assert "note: diff looks right" in rendered(app) and "excluded turns: 1" in rendered(app)
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(scenario())
    assert appended(bugfix, lines_before) == [
        {"type": "label", "outcome": "fail", "note": None},
        {"type": "label", "outcome": "success", "note": None},
        {"type": "label", "outcome": None, "note": "diff looks right"},
        {"type": "tags", "tags": ["bugfix", "python"]},
        {"type": "exclude", "message_index": 5, "excluded": True},
        {"type": "exclude", "message_index": 5, "excluded": False},
        {"type": "exclude", "message_index": 5, "excluded": True},
    ]
    view = load_session(bugfix)
    assert view.meta.outcome == "success" and view.meta.notes == ["diff looks right"]
    assert view.tags == ["bugfix", "python"] and view.excluded == {5}


def test_open_a_session_directly(tmp_path: Path) -> None:
    _, readme, _ = sessions(tmp_path)

    async def scenario() -> None:
        app = Viewer(tmp_path, readme)
        async with app.run_test(size=(160, 40)) as pilot:
            await settled(app)
            assert app.view is not None and app.view.path == readme
            assert app.query_one("#sessions", DataTable).cursor_row == 1
            await pilot.press("x", "q")

    asyncio.run(scenario())
    assert appended(readme, -1) == [{"type": "exclude", "message_index": 0, "excluded": True}]


def test_view_is_a_recordings_subcommand(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="action"))
    args = parser.parse_args(["view", "20261125-000002"])
    assert args.handler is view_command and args.id == "20261125-000002"
    assert parser.parse_args(["view"]).id is None
