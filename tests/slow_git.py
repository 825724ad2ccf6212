"""A real git made slow where the checkpoint snapshots the workspace (`git add`), so a test can deliver an interrupt
inside the snapshot: a `git` first on PATH that marks when an `add` begins, waits, then runs the real git."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from recordings.schema import Message
from tests.tooling import wait_for

SLOW_ADD_S = 10  # far longer than any test waits: only the interrupt ends it


def slow_git_add(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the slow git first on PATH (for this process and the faces it starts); returns the file whose existence
    says an `add` has begun."""
    real = shutil.which("git")
    assert real is not None
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "add-started"
    script = directory / "git"
    script.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        f'  if [ "$arg" = add ]; then : > "{marker}"; sleep {SLOW_ADD_S}; fi\n'
        "done\n"
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return marker


def interrupt_when(marker: Path) -> threading.Thread:
    """SIGINT to this process's main thread (as Ctrl-C delivers it) once `marker` exists."""

    def deliver() -> None:
        wait_for(marker.exists, timeout=30)  # else no interrupt comes, and the test's own asserts say so
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread


def unanswered(messages: list[Message]) -> list[str]:
    """The ids of calls without a tool message right after their reply (the order the API requires)."""
    missing: list[str] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        ids = [c["id"] for c in message.get("tool_calls") or []]
        following = messages[index + 1 : index + 1 + len(ids)]
        answered = [m.get("tool_call_id") for m in following if m["role"] == "tool"]
        missing += [call_id for call_id in ids if call_id not in answered]
    return missing
