"""Curating recordings: the listing index, filters, transcript, statistics, validation, and crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recordings.store import INDEX_FILE, RecordingWriter, list_sessions, read_trajectory, recordings_dir
from recordings.validate import problems
from tests.tooling import make_recording, meta

DAY = 86_400


def record(
    directory: Path,
    name: str,
    *,
    model: str = "m",
    label: str | None = None,
    started: float = 0.0,
    tokens: int = 1000,
    tool: str = "read_file",
    workspace: str = "/work/app",
    tags: list[str] | None = None,
    dangling: bool = False,
) -> Path:
    call = {"id": "c1", "type": "function", "function": {"name": tool, "arguments": {"path": "a.py"}}}
    usage = {"prompt_tokens": tokens - 10, "completion_tokens": 10}
    records = [
        ("message", {"message": {"role": "user", "content": f"task {name}"}}),
        ("message", {"message": {"role": "assistant", "content": None, "tool_calls": [call]}, "usage": usage}),
    ]
    if not dangling:
        result = {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        records += [("message", {"message": result, "data": {"diff": "+x\n"}})]
        records += [("message", {"message": {"role": "assistant", "content": "done"}, "usage": usage})]
    records += [("tags", {"tags": tags})] if tags else []
    path = directory / f"{name}.jsonl"
    started_at = started or time.time()
    return make_recording(path, records, label=label, model=model, workspace=workspace, started_at=started_at)


def sii(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sii", *args], capture_output=True, text=True, env=env, timeout=60)


def three_sessions(sii_home: Path, now: float) -> Path:
    """The recordings folder with sessions that differ in label, age, model, tokens, tool, tags and workspace."""
    folder = recordings_dir(sii_home)
    folder.mkdir(parents=True)
    record(folder, "s-old", label="success", started=now - 10 * DAY, tokens=40_000, tags=["frontend"])
    record(folder, "s-fail", label="fail", started=now - DAY, model="other", tool="run_shell")
    record(folder, "s-new", started=now, tokens=150_000, workspace="/work/api")
    return folder


@pytest.fixture
def directory(sii_home: Path) -> Path:
    return three_sessions(sii_home, time.time())


def ids(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The id column of the listing table."""
    cells = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")]
    return [cell for cell in cells if cell.startswith("s-")]


def test_list_filters(directory: Path) -> None:
    assert ids(sii("recordings", "list")) == ["s-new", "s-fail", "s-old"]
    assert ids(sii("recordings", "list", "--label", "success")) == ["s-old"]
    assert ids(sii("recordings", "list", "--label", "none")) == ["s-new"]
    assert ids(sii("recordings", "list", "--model", "other")) == ["s-fail"]
    assert ids(sii("recordings", "list", "--min-tokens", "30000", "--max-tokens", "100000")) == ["s-old"]
    assert ids(sii("recordings", "list", "--tool", "run_shell")) == ["s-fail"]
    assert ids(sii("recordings", "list", "--repo", "/work/api")) == ["s-new"]
    assert ids(sii("recordings", "list", "--tag", "frontend")) == ["s-old"]
    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 2 * DAY))
    assert ids(sii("recordings", "list", "--since", since)) == ["s-new", "s-fail"]
    assert sii("recordings", "list", "--since", "yesterday").returncode == 2


def test_the_index_skips_unchanged_files_and_heals(directory: Path) -> None:
    first = list_sessions(directory)
    index = json.loads((directory / INDEX_FILE).read_text())
    assert set(index) == {"s-old.jsonl", "s-fail.jsonl", "s-new.jsonl"}
    assert [s.tokens for s in first] == [150_000, 1000, 40_000]
    (directory / "s-new.jsonl").write_text("garbage\n")  # a changed file is read again
    (directory / "s-old.jsonl").touch()
    assert [s.session_id for s in list_sessions(directory)] == ["s-fail", "s-old"]
    (directory / INDEX_FILE).write_text("{broken")
    assert [s.session_id for s in list_sessions(directory)] == ["s-fail", "s-old"]


def test_show_renders_a_readable_transcript(directory: Path) -> None:
    shown = sii("recordings", "show", "s-old")
    assert shown.returncode == 0, shown.stderr
    for expected in ("session s-old", "outcome success", "task s-old", "⏺ read_file", '"path": "a.py"', "+x", "done"):
        assert expected in shown.stdout


def test_stats_report_the_length_distribution(directory: Path, tmp_path: Path) -> None:
    figures = json.loads(sii("recordings", "stats", "--json").stdout)
    assert figures["sessions"] == 3 and figures["tokens_max"] == 150_000 and figures["tokens_median"] == 40_000
    assert figures["by_label"] == {"success": 1, "fail": 1, "none": 1}
    png = tmp_path / "lengths.png"
    drawn = sii("recordings", "stats", "--png", str(png))
    assert "3 sessions" in drawn.stdout and "█" in drawn.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validate_finds_broken_trajectories(directory: Path) -> None:
    assert sii("recordings", "validate").returncode == 0
    broken = record(directory, "s-broken", dangling=True)
    with open(broken, "a") as handle:
        handle.write('{"type": "message", "message": {"role": "tool", "tool_call_id": "zz", "content": "?"}}\n')
        handle.write('{"type": "mess')
    found = problems(read_trajectory(broken))
    assert "1 unreadable line(s) skipped (a torn write)" in found
    assert any("unknown tool call 'zz'" in problem for problem in found)
    assert any("'c1' was never answered" in problem for problem in found)
    result = sii("recordings", "validate")
    assert result.returncode == 1 and "1 invalid session(s)" in result.stderr


def test_killed_writers_never_corrupt_a_recording(tmp_path: Path) -> None:
    """kill -9 a writing process at random moments, 200 times: every file stays readable and keeps every
    record the writer had acknowledged (written and flushed) before it died."""
    rng = random.Random(7)
    for attempt in range(200):
        path = tmp_path / f"crash-{attempt}.jsonl"
        acks_read, acks_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child writes until it is killed, acknowledging each record through the pipe
            os.close(acks_read)
            writer = RecordingWriter(path)
            writer.session(meta("c"), [], sync=False)
            for n in range(100_000):
                writer.message(sync=n % 10 == 0, message={"role": "user", "content": f"{n} " + "x" * 200})
                os.write(acks_write, b".")
            os._exit(0)
        os.close(acks_write)
        time.sleep(rng.uniform(0, 0.004))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        acknowledged = 0
        while chunk := os.read(acks_read, 65536):
            acknowledged += len(chunk)
        os.close(acks_read)
        if not path.exists() or path.stat().st_size == 0:
            assert acknowledged == 0
            continue
        try:
            trajectory = read_trajectory(path)
        except ValueError:  # killed before the header line was complete: nothing was acknowledged
            assert acknowledged == 0
            continue
        assert len(trajectory.messages) >= acknowledged
        assert [m["content"].split()[0] for m in trajectory.messages] == [
            str(n) for n in range(len(trajectory.messages))
        ]
        assert trajectory.skipped_lines <= 1


def test_excluded_turns_are_cut_from_training_samples(tmp_path: Path) -> None:
    path = record(tmp_path, "two-turns")
    writer = RecordingWriter(path)
    writer.message(message={"role": "user", "content": "second task"})
    writer.message(message={"role": "assistant", "content": "second answer"})
    writer.exclude(message_index=4, excluded=True)  # the second turn's user message
    writer.close()
    (sample,) = read_trajectory(path).samples()
    assert [m["role"] for m in sample["messages"]] == ["user", "assistant", "tool", "assistant"]
    writer = RecordingWriter(path)
    writer.exclude(message_index=0, excluded=True)  # now the first turn too: nothing is left to train
    writer.exclude(message_index=4, excluded=False)
    writer.close()
    trajectory = read_trajectory(path)
    assert trajectory.excluded_turns == {0} and trajectory.samples() == []
