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
from typing import TYPE_CHECKING, Any, Literal, Unpack

from recordings.records import (
    FORMAT,
    KINDS,
    CheckpointRecord,
    CompactionRecord,
    ComparisonRecord,
    EndMeta,
    ErrorRecord,
    EvalRecord,
    ExcludeRecord,
    GapRecord,
    MessageRecord,
    Messages,
    ModelRecord,
    RecordKind,
    ResumeRecord,
    RetuneRecord,
    RewindRecord,
    TagsRecord,
    TaskRecord,
    TurnEndRecord,
    check_fields,
    checked_outcome,
    declared_kind,
    format_version,
)
from recordings.records import (
    OUTCOMES as OUTCOMES,  # re-exported for the faces' label choices
)
from recordings.schema import Message, SessionMeta, Trajectory, unicode_safe

if TYPE_CHECKING:  # the patterns compile on first use, not when `sii --help` imports the store
    from recordings.redact import Redactor


def recordings_dir(home: Path) -> Path:
    return home / "recordings"


# Records held in memory while the disk refuses them; past this the newest are dropped and a `gap` notes how many.
MAX_PENDING_BYTES = 64 * 1024 * 1024


class RecordSink:
    """Where records go: one typed method per record kind (recordings.records declares them), all through the
    checked generic `write`, which refuses a kind or field the format does not declare."""

    def write(self, kind: str, sync: bool = False, **fields: Any) -> None:
        """Write one record; `sync` fsyncs it (and everything before it) to the disk."""
        check_fields(kind, fields)
        self._put(kind, sync, fields)

    def _put(self, kind: str, sync: bool, fields: dict[str, Any]) -> None:
        raise NotImplementedError

    def session(self, meta: SessionMeta, tools: list[dict[str, Any]], sync: bool = True) -> None:
        self.write("session", sync, meta=meta.to_dict(), tools=tools)

    def message(self, sync: bool = False, **fields: Unpack[MessageRecord]) -> None:
        self.write("message", sync, **fields)

    def turn_end(self, sync: bool = True, **fields: Unpack[TurnEndRecord]) -> None:
        self.write("turn_end", sync, **fields)

    def error(self, message: str, sync: bool = False) -> None:
        self.write("error", sync, **ErrorRecord(message=message))

    def compaction(self, sync: bool = True, **fields: Unpack[CompactionRecord]) -> None:
        self.write("compaction", sync, **fields)

    def system_prompt(self, messages: Messages, sync: bool = True) -> None:
        self.write("system_prompt", sync, messages=messages)

    def rewind(self, sync: bool = True, **fields: Unpack[RewindRecord]) -> None:
        self.write("rewind", sync, **fields)

    def retune(self, sync: bool = True, **fields: Unpack[RetuneRecord]) -> None:
        self.write("retune", sync, **fields)

    def checkpoint(self, sync: bool = False, **fields: Unpack[CheckpointRecord]) -> None:
        self.write("checkpoint", sync, **fields)

    def model(self, sync: bool = True, **fields: Unpack[ModelRecord]) -> None:
        self.write("model", sync, **fields)

    def resume(self, sync: bool = True, **fields: Unpack[ResumeRecord]) -> None:
        self.write("resume", sync, **fields)

    def label(self, outcome: str | None = None, note: str | None = None, sync: bool = True) -> None:
        """Label the session for training (live or finished: labels are appended like any event)."""
        self.write("label", sync, outcome=checked_outcome(outcome), note=note)

    def tags(self, sync: bool = True, **fields: Unpack[TagsRecord]) -> None:
        self.write("tags", sync, **fields)

    def exclude(self, sync: bool = True, **fields: Unpack[ExcludeRecord]) -> None:
        self.write("exclude", sync, **fields)

    def task(self, sync: bool = True, **fields: Unpack[TaskRecord]) -> None:
        self.write("task", sync, **fields)

    def comparison(self, sync: bool = True, **fields: Unpack[ComparisonRecord]) -> None:
        self.write("comparison", sync, **fields)

    def eval(self, sync: bool = True, **fields: Unpack[EvalRecord]) -> None:
        self.write("eval", sync, **fields)

    def end(self, meta: EndMeta, sync: bool = True) -> None:
        self.write("end", sync, meta=meta)


class RecordingWriter(RecordSink):
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

    def _put(self, kind: str, sync: bool, fields: dict[str, Any]) -> None:
        if kind == "session":  # the header names the format and says whether the file was redacted as written
            fields = {**fields, "meta": {**fields["meta"], "redacted": self.redactor is not None}, "format": FORMAT}
        elif self.redactor is None:  # so a later export knows this record still needs redacting
            fields = {**fields, "unredacted": True}
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
                    self._push(_line({"type": "gap", "time": time.time(), **GapRecord(records_lost=self._lost)}))
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


@dataclass
class _Reading:
    """A trajectory as it is folded together from its records, in file order."""

    meta: SessionMeta | None = None
    version: int | None = 1
    tools: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[list[Message]] = field(default_factory=lambda: [[]])
    context_tokens: list[int | None] = field(default_factory=lambda: [None])
    sources: list[list[int | None]] = field(default_factory=lambda: [[]])  # per context: each message's log index
    excluded: set[int] = field(default_factory=set)

    def session(self, record: dict[str, Any]) -> None:
        self.meta, self.tools = SessionMeta.from_dict(record["meta"]), record.get("tools", [])
        self.version = format_version(record)

    def message(self, record: dict[str, Any]) -> None:
        self.contexts[-1].append(record["message"])
        self.sources[-1].append(len(self.messages))
        self.messages.append(record["message"])
        self.extras.append({key: value for key, value in record.items() if key not in ("type", "message")})
        if usage := record.get("usage"):
            self.context_tokens[-1] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)

    def restart_view(self, record: dict[str, Any]) -> None:
        """The model's view starts over from the record's messages: a new context (and training sample)."""
        self.contexts.append(list(record["messages"]))
        self.sources.append([None] * len(record["messages"]))
        self.context_tokens.append(None)
        self.events.append(record)

    def tags(self, record: dict[str, Any]) -> None:
        if self.meta is not None:
            self.meta.tags = list(record.get("tags", []))

    def exclude(self, record: dict[str, Any]) -> None:
        (self.excluded.add if record.get("excluded") else self.excluded.discard)(record["message_index"])

    def end(self, record: dict[str, Any]) -> None:
        if self.meta is not None:
            ended = {key: value for key, value in record.get("meta", {}).items() if key in EndMeta.__optional_keys__}
            self.meta = SessionMeta.from_dict({**self.meta.to_dict(), **ended})

    def label(self, record: dict[str, Any]) -> None:
        if self.meta is not None:
            self.meta.outcome = record.get("outcome") or self.meta.outcome
            self.meta.notes += [record["note"]] if record.get("note") else []

    def fold(self, record: dict[str, Any]) -> None:
        """Fold one record in; a record of another kind (an event, or a kind from a newer format) is kept as
        an event."""
        kind = declared_kind(record)
        if kind is not None and KINDS[kind].restarts_view:
            self.restart_view(record)
        elif kind is not None and (handle := _FOLDS.get(kind)):
            handle(self, record)
        else:
            self.events.append(record)


# How the reader folds the kinds that shape the trajectory (the view restarts aside: see Kind.restarts_view).
_FOLDS: dict[RecordKind, Callable[[_Reading, dict[str, Any]], None]] = {
    "session": _Reading.session,
    "message": _Reading.message,
    "tags": _Reading.tags,
    "exclude": _Reading.exclude,
    "end": _Reading.end,
    "label": _Reading.label,
}


def read_trajectory(path: Path) -> Trajectory:
    """Rebuild a trajectory from its file; unparsable lines (a torn write) are counted and skipped. A file in
    a newer format is read as far as this sii knows it (its unknown kinds kept as events); validate says so."""
    reading = _Reading()
    redactions: Counter[str] = Counter()
    unredacted = False
    skipped = 0
    for record in iter_records(path):
        if record is None:
            skipped += 1
            continue
        redactions.update(record.get("redacted", {}))
        unredacted = unredacted or bool(record.get("unredacted"))
        reading.fold(record)
    meta = reading.meta
    if meta is None:
        raise ValueError(f"{path} is not a sii recording (no session header)")
    return Trajectory(
        meta=meta,
        tools=reading.tools,
        messages=reading.messages,
        extras=reading.extras,
        events=reading.events,
        skipped_lines=skipped,
        contexts=reading.contexts,
        context_tokens=reading.context_tokens,
        context_sources=reading.sources,
        excluded_turns=reading.excluded,
        redactions=dict(redactions),
        needs_redaction=unredacted or not meta.redacted,
        format_version=reading.version,
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
