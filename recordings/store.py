"""Append-only JSONL store. One line per event, written as it happens and fsynced at turn boundaries, so a
session is readable while it runs and a crash loses at most the line being written (skipped on read)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.schema import Message, SessionMeta, Trajectory


def recordings_dir(home: Path) -> Path:
    return home / "recordings"


class RecordingWriter:
    """Appends records to one session file. A failed write (full disk...) never raises into the session:
    the record is kept in memory and retried on the next write; `last_error` tells the face what happened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the session
        self._pending: list[str] = []
        self._torn = False
        self.last_error: OSError | None = None

    def write(self, kind: str, sync: bool = False, **fields: Any) -> None:
        record = {"type": kind, "time": time.time(), **fields}
        self._pending.append(json.dumps(record, ensure_ascii=False) + "\n")
        try:
            if self._torn:  # a partial line may be on disk: end it, so it stays one skippable line
                self._file.write("\n")
                self._torn = False
            while self._pending:
                self._file.write(self._pending[0])
                self._file.flush()
                self._pending.pop(0)
            if sync:
                os.fsync(self._file.fileno())
            self.last_error = None
        except OSError as exc:
            self._torn = True
            self.last_error = exc

    def close(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self.last_error = exc
        finally:
            self._file.close()


OUTCOMES = ("success", "fail", "unknown")


def write_label(writer: RecordingWriter, outcome: str | None = None, note: str | None = None) -> None:
    """Label a session for training (live or finished: labels are appended like any event)."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    writer.write("label", sync=True, outcome=outcome, note=note)


def read_trajectory(path: Path) -> Trajectory:
    """Rebuild a trajectory from its file; unparsable lines (a torn write) are counted and skipped."""
    meta: SessionMeta | None = None
    tools: list[dict[str, Any]] = []
    messages: list[Message] = []
    events: list[dict[str, Any]] = []
    contexts: list[list[Message]] = [[]]
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            kind = record.get("type")
            if kind == "session":
                meta, tools = SessionMeta.from_dict(record["meta"]), record.get("tools", [])
            elif kind == "message":
                messages.append(record["message"])
                contexts[-1].append(record["message"])
            elif kind in ("compaction", "rewind"):  # the model's view starts over from these messages
                contexts.append(list(record["messages"]))
                events.append(record)
            elif kind == "end" and meta is not None:
                meta = SessionMeta.from_dict({**meta.to_dict(), **record.get("meta", {})})
            elif kind == "label" and meta is not None:
                meta.outcome = record.get("outcome") or meta.outcome
                meta.notes += [record["note"]] if record.get("note") else []
            else:
                events.append(record)
    if meta is None:
        raise ValueError(f"{path} is not a sii recording (no session header)")
    return Trajectory(
        meta=meta, tools=tools, messages=messages, events=events, skipped_lines=skipped, contexts=contexts
    )


@dataclass
class SessionSummary:
    session_id: str
    path: Path
    started_at: float
    model: str
    messages: int
    outcome: str | None
    first_prompt: str
    workspace: str


def list_sessions(directory: Path) -> list[SessionSummary]:
    """Every readable session in `directory`, newest first."""
    summaries = []
    for path in directory.glob("*.jsonl"):
        try:
            trajectory = read_trajectory(path)
        except (ValueError, OSError, KeyError):
            continue
        first_user = next((m["content"] or "" for m in trajectory.messages if m["role"] == "user"), "")
        summaries.append(
            SessionSummary(
                session_id=trajectory.meta.session_id,
                path=path,
                started_at=trajectory.meta.started_at,
                model=trajectory.meta.model,
                messages=len(trajectory.messages),
                outcome=trajectory.meta.outcome,
                first_prompt=first_user,
                workspace=trajectory.meta.workspace,
            )
        )
    return sorted(summaries, key=lambda s: s.started_at, reverse=True)
