"""A full or read-only disk under SII_HOME or the recordings folder never stops the session: the answer is still
given, the user is warned once, and when space returns the recording goes on without losing or repeating a record.
The faults are real: a small tmpfs that fills up, or is remounted read-only (root only; skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from recordings.store import RecordingWriter, iter_records, read_trajectory
from recordings.validate import problems
from tests.scripted_server import Reply, ScriptedServer, call
from tests.tooling import meta

SII = [sys.executable, "-m", "sii"]


class SmallDisk:
    """A tmpfs of a few hundred KB mounted for one test: `fill()` takes every free byte, `free()` gives it back."""

    def __init__(self, root: Path, size_kb: int = 512) -> None:
        self.root = root
        self.size_kb = size_kb
        self._filler = root / f".filler-{uuid.uuid4().hex}"

    def mount(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_kb}k,mode=0755", "tmpfs", str(self.root)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): disk-fault tests need root")

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], capture_output=True)

    def fill(self) -> None:
        """Write until the filesystem refuses even one more byte."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 1):
                try:
                    while os.write(fd, b"\0" * size):
                        pass
                except OSError:
                    continue
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def read_only(self, on: bool = True) -> None:
        mode = "ro" if on else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.root)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = SmallDisk(tmp_path / "small")
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()


def _records(path: Path) -> list[dict]:
    records = list(iter_records(path))
    assert None not in records, "a torn line is on disk"
    return [r for r in records if r is not None]


def note(writer: RecordingWriter, number: int, text: str = "") -> None:
    """A numbered record, to count which reached the disk."""
    writer.error(f"{number} {text}")


def noted(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["message"].split()[0]) for r in records if r["type"] == "error"]


def test_writer_resumes_after_a_full_disk_without_duplicates(small_disk: SmallDisk) -> None:
    warnings: list[str] = []
    writer = RecordingWriter(small_disk.root / "s.jsonl", redactor=None, warn=warnings.append)
    writer.session(meta("s"), [])
    small_disk.fill()
    big = "x" * 3000  # several pages, so a write is cut part way through
    for number in range(20):
        note(writer, number, big)
    assert writer.last_error is not None
    assert len(warnings) == 1 and "recording" in warnings[0].lower()
    small_disk.free()
    note(writer, 20, "after")
    writer.close()
    assert writer.last_error is None
    numbers = noted(_records(writer.path))
    assert numbers == list(range(21))
    assert len(warnings) == 2 and "resumed" in warnings[1].lower()


def test_writer_survives_a_close_on_a_full_disk(small_disk: SmallDisk) -> None:
    writer = RecordingWriter(small_disk.root / "s.jsonl", redactor=None, warn=lambda _: None)
    writer.session(meta("s"), [])
    small_disk.fill()
    note(writer, 0, "y" * 8000)
    writer.close()  # must not raise
    assert writer.last_error is not None


def test_writer_starts_on_a_read_only_folder_and_writes_once_it_can(small_disk: SmallDisk) -> None:
    small_disk.read_only()
    warnings: list[str] = []
    writer = RecordingWriter(small_disk.root / "rec" / "s.jsonl", redactor=None, warn=warnings.append)
    writer.session(meta("s"), [])
    note(writer, 1)
    assert writer.last_error is not None and len(warnings) == 1
    small_disk.read_only(False)
    note(writer, 2)
    writer.close()
    assert [r["type"] for r in _records(writer.path)] == ["session", "error", "error"]


def test_pending_records_are_bounded_while_the_disk_stays_full(small_disk: SmallDisk) -> None:
    writer = RecordingWriter(small_disk.root / "s.jsonl", redactor=None, warn=lambda _: None, max_pending=64_000)
    writer.session(meta("s"), [])
    small_disk.fill()
    for number in range(200):
        note(writer, number, "z" * 1000)
    assert writer.pending_bytes <= 64_000 + 2000
    small_disk.free()
    note(writer, 200)
    writer.close()
    records = _records(writer.path)
    gaps = [r for r in records if r["type"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["records_lost"] > 0
    numbers = noted(records)
    assert numbers == sorted(numbers) and numbers[-1] == 200


def _sii(*args: str, cwd: Path, home: Path, recordings: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SII_HOME": str(home)}
    if recordings is not None:
        env["SII_RECORDINGS_DIR"] = str(recordings)
    return subprocess.run([*SII, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def _edit_script(server: ScriptedServer) -> None:
    server.script = [
        Reply("", [call("write_file", {"path": "new.txt", "content": "hello\n"})]),
        Reply("Wrote new.txt."),
    ]


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_headless_session_on_a_broken_sii_home_still_answers(
    fault: str, small_disk: SmallDisk, scripted: ScriptedServer, workspace: Path
) -> None:
    home = small_disk.root / "home"
    home.mkdir()
    _edit_script(scripted)
    small_disk.fill() if fault == "full" else small_disk.read_only()
    result = _sii("-p", "write it", "--yolo", "--base-url", scripted.base_url, cwd=workspace, home=home)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Wrote new.txt.\n"
    assert (workspace / "new.txt").read_text() == "hello\n"
    assert "recording" in result.stderr.lower()


def test_headless_session_whose_disk_fills_mid_session_records_everything_once_space_returns(
    small_disk: SmallDisk, scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    """The recording folder fills after the header is written (the first tool fills it) and frees again before the
    end (the second tool frees it): the recording holds every message once and validates."""
    filler = small_disk.root / "filler"
    fill = f"head -c 10000000 /dev/zero > {filler} 2>/dev/null; true"
    scripted.script = [
        Reply("", [call("run_shell", {"command": fill})]),
        Reply("", [call("run_shell", {"command": f"rm -f {filler}"})]),
        Reply("Done."),
    ]
    result = _sii(
        "-p", "go", "--yolo", "--base-url", scripted.base_url, cwd=workspace, home=sii_home, recordings=small_disk.root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Done.\n"
    (path,) = small_disk.root.glob("*.jsonl")
    trajectory = read_trajectory(path)
    assert problems(trajectory) == []
    roles = [m["role"] for m in trajectory.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]


def test_repl_on_a_read_only_sii_home_answers_and_keeps_going(
    small_disk: SmallDisk, scripted: ScriptedServer, workspace: Path
) -> None:
    home = small_disk.root / "home"
    home.mkdir()
    small_disk.read_only()
    scripted.script = [Reply("First answer."), Reply("Second answer.")]
    env = {**os.environ, "SII_HOME": str(home), "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(
        SII[0], [*SII[1:], "--base-url", scripted.base_url], cwd=str(workspace), env=env, encoding="utf-8", timeout=30
    )
    try:
        child.setwinsize(40, 120)
        child.expect("›")
        child.sendline("hello")
        child.expect("First answer")
        child.expect("›")
        child.sendline("again")
        child.expect("Second answer")
        child.expect("›")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        output = child.before or ""
        child.close(force=True)
    assert "Traceback" not in output
    assert child.exitstatus == 0
