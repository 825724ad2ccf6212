"""Subscribes to agent events and appends them to the session's recording as they happen."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from recordings.records import EndMeta, Usage, check_fields
from recordings.schema import Message, SessionMeta, Trajectory
from recordings.store import RecordingWriter, RecordSink, read_trajectory
from sii import __version__
from sii.agent import answer_unanswered_calls
from sii.events import AssistantMessage, Compacted, ErrorEvent, Event, ToolResult, TurnEnd, UserMessage
from tools.gitcmd import GitError, git

# The repository is someone else's: a ref or its config can be a FIFO that blocks whoever reads it.
FACTS_TIMEOUT_S = 10.0
_FACTS = {"head": ("rev-parse", "--verify", "--quiet", "HEAD^{commit}"), "remote": ("config", "remote.origin.url")}


def git_facts(workspace: str, timeout: float = FACTS_TIMEOUT_S) -> dict[str, str | None]:
    """HEAD and origin URL of the repository the workspace is in (looked for from the workspace up), or None for
    each that there is none of or that git cannot tell within `timeout` seconds (then the rest is not asked)."""
    facts: dict[str, str | None] = dict.fromkeys(_FACTS)
    deadline = time.monotonic() + timeout
    root = Path(workspace)
    for fact, args in _FACTS.items():
        try:
            found = git(args, root, boundary=Path(root.anchor or "/"), timeout=deadline - time.monotonic())
        except GitError:
            break
        facts[fact] = found.text.strip() or None if found.exit_code == 0 else None
    return facts


class DeferredWriter(RecordSink):
    """A session's writer that puts nothing on disk until the conversation has a message to record: a REPL opened
    and closed without a turn, or a run that failed before its first turn, leaves no file. Until then the opening
    records (the header) and anything written meanwhile (a /model switch, a label) wait in memory, in order."""

    def __init__(self, writer: RecordingWriter) -> None:
        self._writer = writer
        self._waiting: list[tuple[str, bool, dict[str, Any]]] | None = []

    @property
    def path(self) -> Path:
        return self._writer.path

    @property
    def started(self) -> bool:
        """Whether the recording is on disk (or on its way there, if the disk refuses it for now)."""
        return self._waiting is None

    def hold(self, kind: str, sync: bool = False, **fields: Any) -> None:
        """Write a record that does not start the file by itself (the opening records, say). It is checked
        against the format now, so a record the format refuses fails where it is written, not later."""
        check_fields(kind, fields)
        if self._waiting is None:
            self._writer.write(kind, sync, **fields)
        else:
            self._waiting.append((kind, sync, fields))

    def _put(self, kind: str, sync: bool, fields: dict[str, Any]) -> None:
        """A conversation message starts the file, with everything held before it."""
        if self._waiting is None or kind != "message":
            self.hold(kind, sync, **fields)
            return
        waiting, self._waiting = self._waiting, None
        for held_kind, held_sync, held_fields in waiting:
            self._writer.write(held_kind, held_sync, **held_fields)
        self._writer.write(kind, sync, **fields)

    def close(self) -> None:
        """Close the file; what still waits for a first message is dropped with the session (no file is made)."""
        if self.started:
            self._writer.close()


class Recorder:
    """One recording per session. Messages are written as they are appended to the conversation, and the
    file is fsynced at each turn end, so a killed process leaves a readable trajectory behind. The file starts
    with the first message the user sends (see DeferredWriter)."""

    def __init__(self, writer: RecordingWriter, meta: SessionMeta) -> None:
        self.writer = DeferredWriter(writer)
        self.meta = meta

    def start(self, tools: list[dict[str, Any]], initial_messages: list[Message]) -> None:
        """The header and the conversation so far (the system prompt), written before the first user message."""
        self.writer.hold("session", sync=True, meta=self.meta.to_dict(), tools=tools)
        for message in initial_messages:
            self.writer.hold("message", message=message)

    def resume(self, face: str, model: str, base_url: str, repairs: list[Message]) -> None:
        """Continue an existing recording: note who picked it up, then any messages that repair it."""
        self.writer.hold("resume", sync=True, face=face, model=model, base_url=base_url)
        for message in repairs:
            self.writer.hold("message", message=message)

    def __call__(self, event: Event) -> None:
        match event:
            case UserMessage(message=message):
                self.writer.message(message=message)
            case AssistantMessage(message=message, finish_reason=finish_reason, usage=usage):
                # the server's counts as it sent them: validate checks them before anything reads them
                self.writer.message(message=message, finish_reason=finish_reason, usage=cast(Usage, usage))
            case ToolResult(message=message, observation=observation):
                self.writer.message(message=message, is_error=observation.is_error, data=observation.data)
            case Compacted(summary=summary, messages=messages, tokens_before=tokens_before):
                self.writer.compaction(summary=summary, messages=messages, tokens_before=tokens_before)
            case ErrorEvent(message=text):
                self.writer.error(text)
            case TurnEnd(reason=reason, steps=steps):
                self.writer.turn_end(reason=reason, steps=steps)

    def close(self) -> None:
        """Write the session's end facts and close the file."""
        end: EndMeta = {"ended_at": time.time(), "git_head_end": git_facts(self.meta.workspace)["head"]}
        self.writer.end(end)
        self.writer.close()


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def session_meta(
    session_id: str,
    face: str,
    model: str,
    base_url: str,
    sampling: dict[str, Any],
    workspace: Path,
    chat_template: str | None = None,
    tool_profile: str = "sii",
) -> SessionMeta:
    """The header of a new recording: who, with which model, template and settings, where, from which commit."""
    facts = git_facts(str(workspace))
    return SessionMeta(
        session_id=session_id,
        sii_version=__version__,
        face=face,
        model=model,
        base_url=base_url,
        sampling=sampling,
        workspace=str(workspace),
        started_at=time.time(),
        git_head_start=facts["head"],
        git_remote=facts["remote"],
        chat_template=chat_template,
        tool_profile=tool_profile,
    )


@dataclass(frozen=True)
class Lineage:
    """Which recording a session writes and the conversation it starts from: a new recording (no `previous`), an
    old one resumed (its id and file, new events appended), or one forked (a new recording, the old one its
    parent). `messages` is the model's last view of the old conversation with every call answered (`repairs`
    are the answers it lacked); empty for a new session."""

    session_id: str
    path: Path
    previous: Trajectory | None = None
    fork: bool = False
    messages: tuple[Message, ...] = ()
    repairs: tuple[Message, ...] = ()

    @classmethod
    def choose(cls, recordings: Path, resume: Path | None, fork: bool) -> Lineage:
        if resume is None:
            session_id = new_session_id()
            return cls(session_id, recordings / f"{session_id}.jsonl")
        previous = read_trajectory(resume)
        seen = previous.contexts[-1]  # after a compaction, the model's view, not the whole log
        repairs = answer_unanswered_calls(seen)
        session_id = new_session_id() if fork else previous.meta.session_id
        path = recordings / f"{session_id}.jsonl" if fork else resume
        return cls(session_id, path, previous, fork, tuple(seen + repairs), tuple(repairs))

    def recorder(
        self,
        writer: RecordingWriter,
        resumed_by: tuple[str, str, str],
        new_meta: Callable[[], SessionMeta],
        tools: list[dict[str, Any]],
        messages: list[Message],
    ) -> Recorder:
        """The recorder, its opening records held until the first message: a resumed recording's `resume` record
        (`resumed_by`: the face, model and base URL that picked it up) and its repairs; a new or forked one's
        header (`new_meta()`) and `messages` so far."""
        if self.previous is not None and not self.fork:
            recorder = Recorder(writer, self.previous.meta)
            recorder.resume(*resumed_by, list(self.repairs))
            return recorder
        meta = new_meta()
        meta.parent_session = self.previous.meta.session_id if self.previous else None
        recorder = Recorder(writer, meta)
        recorder.start(tools, messages)
        return recorder
