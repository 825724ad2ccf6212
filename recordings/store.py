"""Append-only JSONL store. One line per event, written as it happens and fsynced at turn boundaries, so a
session is readable while it runs and a crash loses at most the line being written (skipped on read)."""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from recordings.schema import Message, SessionMeta, Trajectory, unicode_safe

if TYPE_CHECKING:  # the patterns compile on first use, not when `sii --help` imports the store
    from recordings.redact import Redactor


def recordings_dir(home: Path) -> Path:
    return home / "recordings"


# Records held in memory while the disk refuses them; past this the newest are dropped and a `gap` notes how many.
MAX_PENDING_BYTES = 64 * 1024 * 1024


class RecordingWriter:
    """Appends records to one session file. Secrets are redacted before they reach the disk (pass
    `redactor=None` to keep them), and each record notes what was redacted from it.

    The disk may be full, read-only or missing, at the start or at any point: a write never raises into the
    session. Records the disk refuses wait in memory (up to `max_pending` bytes) and are written, in order and
    exactly once, as soon as a later write gets through; `warn` is told once when recording stops and once when it
    resumes, and `last_error` says what happened. Records go out through unbuffered `os.write` calls whose byte
    counts are tracked, so a write cut short part way is continued where it stopped, never repeated."""

    def __init__(
        self,
        path: Path,
        redactor: Redactor | Literal["default"] | None = "default",
        warn: Callable[[str], None] | None = None,
        max_pending: int = MAX_PENDING_BYTES,
    ) -> None:
        self.path = path
        self.redactor = default_redactor() if redactor == "default" else redactor
        self.last_error: OSError | None = None
        self.max_pending = max_pending
        self._warn = warn or (lambda _message: None)
        self._fd: int | None = None
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._written = 0  # bytes of the first pending record already on disk
        self._lost = 0  # records dropped since the pending queue filled up

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def _open(self) -> None:
        """Open (or create) the file for appending. A line left torn by an earlier crash is ended first, so the
        next record does not merge into it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                self._pending.appendleft(b"\n")
                self._pending_bytes += 1
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def write(self, kind: str, sync: bool = False, **fields: Any) -> None:
        if kind == "session":  # the header says whether the file was redacted as written
            fields["meta"] = {**fields["meta"], "redacted": self.redactor is not None}
        elif self.redactor is None:  # so a later export knows this record still needs redacting
            fields["unredacted"] = True
        if self.redactor is not None:
            from recordings.redact import summarize

            fields, findings = self.redactor.redact(fields)
            if findings:
                fields["redacted"] = summarize(findings)
        if self._pending or self._lost:  # make room first: the disk may have space again
            self._drain(sync=False)
        line = _line({"type": kind, "time": time.time(), **fields})
        if self._pending and self._pending_bytes + len(line) > self.max_pending:
            self._lost += 1
        else:
            self._push(line)
        self._drain(sync)

    def _push(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_bytes += len(line)

    def _drain(self, sync: bool) -> None:
        """Write what is pending, in order; stop at the first refusal and keep the rest for the next call. Once
        the queue is empty, a `gap` record says how many records were dropped while it was full."""
        was_failing = self.last_error is not None
        try:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            while self._pending:
                line = self._pending[0]
                self._written += os.write(self._fd, memoryview(line)[self._written :])
                if self._written == len(line):
                    self._pending.popleft()
                    self._pending_bytes -= len(line)
                    self._written = 0
                if not self._pending and self._lost:
                    self._push(_line({"type": "gap", "time": time.time(), "records_lost": self._lost}))
                    self._lost = 0
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            if not was_failing:
                self._warn(
                    f"recording paused: {self.path} cannot be written ({exc.strerror or exc}); the session goes on "
                    "and its records wait in memory until the disk takes them"
                )
            self.last_error = exc
            return
        if was_failing:
            self._warn(f"recording resumed: {self.path} is up to date again")
        self.last_error = None

    def close(self) -> None:
        """Write what is still pending and close. Never raises; a disk that still refuses is reported once."""
        self._drain(sync=True)
        if self._pending or self._lost:
            count = len(self._pending) + self._lost
            self._warn(f"recording incomplete: {count} record(s) could not be written to {self.path}")
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                self.last_error = exc
            self._fd = None


def _line(record: dict[str, Any]) -> bytes:
    return encode_record(record).encode("utf-8")


def encode_record(record: dict[str, Any]) -> str:
    """One JSONL line that always encodes as UTF-8, so one bad string can never stop the writer: lone
    surrogates become U+FFFD (what the file then reads back), and a value JSON has no form for is written as
    its text."""
    return unicode_safe(json.dumps(record, ensure_ascii=False, default=str)) + "\n"


OUTCOMES = ("success", "fail", "unknown")


def write_label(writer: RecordingWriter, outcome: str | None = None, note: str | None = None) -> None:
    """Label a session for training (live or finished: labels are appended like any event)."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    writer.write("label", sync=True, outcome=outcome, note=note)


def iter_records(path: Path) -> Iterator[dict[str, Any] | None]:
    """Every record of a recording in order; None for a line that does not parse (a torn write)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                yield None
                continue
            yield record if isinstance(record, dict) else None


@functools.cache
def default_redactor() -> Redactor:
    from recordings.redact import Redactor

    return Redactor()


def read_trajectory(path: Path) -> Trajectory:
    """Rebuild a trajectory from its file; unparsable lines (a torn write) are counted and skipped."""
    meta: SessionMeta | None = None
    tools: list[dict[str, Any]] = []
    messages: list[Message] = []
    events: list[dict[str, Any]] = []
    contexts: list[list[Message]] = [[]]
    context_tokens: list[int | None] = [None]
    extras: list[dict[str, Any]] = []
    sources: list[list[int | None]] = [[]]  # per context: the log index of each message (None: a summary)
    excluded: set[int] = set()
    redactions: Counter[str] = Counter()
    unredacted = False
    skipped = 0
    for record in iter_records(path):
        if record is None:
            skipped += 1
            continue
        kind = record.get("type")
        redactions.update(record.get("redacted", {}))
        unredacted = unredacted or bool(record.get("unredacted"))
        if kind == "session":
            meta, tools = SessionMeta.from_dict(record["meta"]), record.get("tools", [])
        elif kind == "message":
            contexts[-1].append(record["message"])
            sources[-1].append(len(messages))
            messages.append(record["message"])
            extras.append({key: value for key, value in record.items() if key not in ("type", "message")})
            if usage := record.get("usage"):
                context_tokens[-1] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        elif kind in ("compaction", "rewind", "retune", "system_prompt"):  # the model's view starts over here
            contexts.append(list(record["messages"]))
            sources.append([None] * len(record["messages"]))
            context_tokens.append(None)
            events.append(record)
        elif kind == "tags" and meta is not None:
            meta.tags = list(record.get("tags", []))
        elif kind == "exclude":
            (excluded.add if record.get("excluded") else excluded.discard)(record["message_index"])
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
        meta=meta,
        tools=tools,
        messages=messages,
        extras=extras,
        events=events,
        skipped_lines=skipped,
        contexts=contexts,
        context_tokens=context_tokens,
        context_sources=sources,
        excluded_turns=excluded,
        redactions=dict(redactions),
        needs_redaction=unredacted or not meta.redacted,
    )


INDEX_FILE = "index.json"


@dataclass
class SessionSummary:
    """What listing and filtering need, kept in the directory's index so listing does not re-read sessions."""

    session_id: str
    path: Path
    started_at: float
    model: str
    messages: int
    outcome: str | None
    first_prompt: str
    workspace: str
    git_remote: str | None = None
    tokens: int = 0
    tools_used: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path, trajectory: Trajectory) -> SessionSummary:
        meta = trajectory.meta
        first_user = next((m["content"] or "" for m in trajectory.messages if m["role"] == "user"), "")
        return cls(
            session_id=meta.session_id,
            path=path,
            started_at=meta.started_at,
            model=meta.model,
            messages=len(trajectory.messages),
            outcome=meta.outcome,
            first_prompt=first_user,
            workspace=meta.workspace,
            git_remote=meta.git_remote,
            tokens=trajectory.token_count(),
            tools_used=sorted(trajectory.tools_used()),
            tags=list(meta.tags),
        )


def list_sessions(directory: Path) -> list[SessionSummary]:
    """Every readable session in `directory`, newest first. Summaries are cached in `index.json` by file size
    and mtime, so only new or changed files are read; the index is rebuilt if it is missing or damaged."""
    index_path = directory / INDEX_FILE
    try:
        index: dict[str, Any] = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    fresh: dict[str, Any] = {}
    summaries = []
    for path in directory.glob("*.jsonl"):
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp = [stat.st_size, stat.st_mtime_ns]
        cached = index.get(path.name)
        if cached and cached.get("stamp") == stamp:
            summary = SessionSummary(**{**cached["summary"], "path": path})
        else:
            try:
                summary = SessionSummary.of(path, read_trajectory(path))
            except (ValueError, OSError, KeyError, TypeError):
                continue
        fresh[path.name] = {"stamp": stamp, "summary": {**asdict(summary), "path": path.name}}
        summaries.append(summary)
    if fresh != index:
        _write_atomically(index_path, json.dumps(fresh))
    return sorted(summaries, key=lambda s: s.started_at, reverse=True)


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole or not at all; a read-only shared folder just goes without an index."""
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        partial.write_text(text)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
