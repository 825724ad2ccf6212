"""The store survives torn writes and full disks; export writes LIMI-shaped samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from recordings.store import RecordingWriter, list_sessions, read_trajectory, recordings_dir
from tests.tooling import make_recording, messages


def write_session(path: Path, user_text: str = "hi", started_at: float = 1.0) -> None:
    conversation = messages({"role": "user", "content": user_text}, {"role": "assistant", "content": "hello"})
    make_recording(path, [*conversation, ("turn_end", {"reason": "done", "steps": 1})], started_at=started_at)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    write_session(path)
    with open(path, "a") as handle:
        handle.write('{"type": "message", "message": {"role": "assist')  # killed mid-write
    trajectory = read_trajectory(path)
    assert trajectory.skipped_lines == 1
    assert [m["role"] for m in trajectory.messages] == ["user", "assistant"]


def test_a_full_disk_never_raises_into_the_session() -> None:
    writer = RecordingWriter(Path("/dev/full"))  # every write fails with ENOSPC
    writer.message(sync=True, message={"role": "user", "content": "x" * 100_000})
    assert writer.last_error is not None and writer.last_error.errno == 28
    writer.close()


def test_list_and_export_through_the_cli(sii_home: Path) -> None:
    directory = recordings_dir(sii_home)
    write_session(directory / "20261125-000001-aaaaaa.jsonl", "first", started_at=1.0)
    write_session(directory / "20261125-000002-bbbbbb.jsonl", "second", started_at=2.0)
    (directory / "20261125-000003-broken.jsonl").write_text("not json\n")
    assert [s.first_prompt for s in list_sessions(directory)] == ["second", "first"]  # newest first

    exported = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "export", "20261125-000002"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert rows == [
        {"messages": [{"role": "user", "content": "second"}, {"role": "assistant", "content": "hello"}], "tools": []}
    ]
    missing = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "export", "nope"], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no session match 'nope'" in missing.stderr
    labelled = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "label", "20261125-000001", "fail", "--note", "wrong file"],
        capture_output=True,
        text=True,
    )
    assert labelled.returncode == 0, labelled.stderr
    relabelled = read_trajectory(directory / "20261125-000001-aaaaaa.jsonl").meta
    assert relabelled.outcome == "fail" and relabelled.notes == ["wrong file"]
    listed = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert listed.stdout.index("20261125-000002-bbbbbb") < listed.stdout.index("20261125-000001-aaaaaa")
    assert "broken" not in listed.stdout


def _list(*flags: str, columns: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "list", *flags], capture_output=True, text=True, env=env, check=True
    )


def test_list_json_has_full_ids_and_every_summary_field(sii_home: Path) -> None:
    directory = recordings_dir(sii_home)
    write_session(directory / "20261201-000001-aaaaaa.jsonl", "first " * 40, started_at=1.0)
    write_session(directory / "20261201-000002-bbbbbb.jsonl", "second", started_at=2.0)
    writer = RecordingWriter(directory / "20261201-000001-aaaaaa.jsonl")
    writer.label("success", "good")
    writer.close()
    rows = json.loads(_list("--json", columns="40").stdout)
    expected = [{**asdict(s), "path": str(s.path)} for s in list_sessions(directory)]
    assert rows == expected
    assert [row["session_id"] for row in rows] == ["20261201-000002-bbbbbb", "20261201-000001-aaaaaa"]
    assert rows[1]["outcome"] == "success" and rows[1]["first_prompt"] == "first " * 40  # whole, not cut to 50
    (only,) = json.loads(_list("--json", "--label", "success").stdout)  # the filters apply
    assert only["session_id"] == "20261201-000001-aaaaaa"
    assert json.loads(_list("--json", "--label", "fail").stdout) == []


def test_a_piped_list_never_cuts_the_id_column(sii_home: Path) -> None:
    directory = recordings_dir(sii_home)
    write_session(directory / "20261201-000001-aaaaaa.jsonl", "a very long first prompt " * 8)
    write_session(directory / "20261201-000002-bbbbbb.jsonl", "界" * 60)  # wide characters take two columns
    for columns in (None, "40", "10"):
        listed = _list(columns=columns).stdout
        assert "20261201-000001-aaaaaa" in listed and "20261201-000002-bbbbbb" in listed, listed
