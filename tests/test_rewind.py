"""Checkpoints before each turn that changes files, and /rewind of files and conversation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pexpect

from recordings.store import read_trajectory
from sii.config import Settings
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call
from tests.test_faces import spawn_repl

TWO_TURNS = [
    Reply("", [call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})]),
    Reply("Fixed."),
    Reply("", [call("run_shell", {"command": "echo new > made.txt && rm .gitignore"})]),
    Reply("Shuffled files."),
]


def test_rewind_restores_files_and_conversation(workspace: Path) -> None:
    original = (workspace / "calc.py").read_text()
    status_before = subprocess.run(["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True)
    with ScriptedServer(list(TWO_TURNS)) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        session.agent.run_turn("fix add")
        session.agent.run_turn("shuffle files")
        session.agent.run_turn("just talk")  # no change: no checkpoint
        assert [c.checkpoint.label for c in session.turn_checkpoints] == ["fix add", "shuffle files"]
        assert not (workspace / ".gitignore").exists() and (workspace / "made.txt").exists()

        second = session.turn_checkpoints[1]
        restored = session.rewind(second, conversation=False)  # files only: undo the shell command
        assert restored == [".gitignore", "made.txt"]
        assert (workspace / ".gitignore").exists() and not (workspace / "made.txt").exists()
        assert "a + b" in (workspace / "calc.py").read_text()
        assert len(session.agent.messages) == 11

        session.rewind(session.turn_checkpoints[0])  # files and conversation: back to the start
        assert (workspace / "calc.py").read_text() == original
        assert [m["role"] for m in session.agent.messages] == ["system"]
        assert session.turn_checkpoints == []
        session.close()
    status_after = subprocess.run(["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True)
    assert status_after.stdout == status_before.stdout  # the user's git state is untouched

    trajectory = read_trajectory(session.recording_path)
    assert [e["type"] for e in trajectory.events if e["type"] in ("checkpoint", "rewind")] == [
        "checkpoint",
        "checkpoint",
        "rewind",
        "rewind",
    ]
    assert [len(context) for context in trajectory.contexts] == [11, 11, 1]


def test_rewind_in_the_repl_outside_git(scripted: ScriptedServer, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("v1\n")
    scripted.script = [Reply("", [call("write_file", {"path": "notes.txt", "content": "v2\n"})]), Reply("Done.")]
    child = spawn_repl(scripted.base_url, plain, "--yolo")
    child.sendline("/rewind")
    child.expect("no checkpoints yet")
    child.sendline("update the notes")
    child.expect("Done.")
    assert (plain / "notes.txt").read_text() == "v2\n"
    child.sendline("/rewind")
    child.expect("1  \\d\\d:\\d\\d:\\d\\d  before: update the notes")
    child.sendline("/rewind 1 files")
    child.expect("restore +notes.txt")
    child.expect("\\[y/N\\]")
    child.sendline("y")
    child.expect("Rewound: 1 file\\(s\\) restored; conversation kept")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    assert (plain / "notes.txt").read_text() == "v1\n"
