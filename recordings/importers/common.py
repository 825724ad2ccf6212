"""What every agent-log importer produces, the repairs that make it valid training data, and how it is written:
one normal sii recording per source file, redacted on the way in, named by a hash of where the file is and what
it holds, so importing the same file twice (or a whole folder again) adds nothing."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.formats import parse_arguments
from recordings.records import checked_outcome
from recordings.schema import Message, SessionMeta, ToolCall, producer_version
from recordings.store import RecordingWriter

# A source file larger than this is refused: logs are read whole, and a hostile one must not exhaust memory.
MAX_SOURCE_BYTES = 512 * 1024 * 1024


@dataclass
class ImportedSession:
    """A session read from another agent's log. `contexts`: what the model saw, one list per context window
    (more than one only where the agent compacted its history)."""

    source: str  # the format's name
    contexts: list[list[Message]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    model: str = "unknown"
    started_at: float | None = None
    workspace: str = ""
    source_id: str | None = None  # the agent's own session id
    notes: list[str] = field(default_factory=list)


def parse_json(text: str) -> Any:
    """JSON text, or ValueError: a document nested too deep for the parser (a hostile `[[[[...`) says so instead
    of raising RecursionError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply to read") from exc


def load_json(path: Path) -> Any:
    return parse_json(read_text(path))


def check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise ValueError(f"{path}: {size} bytes is more than the {MAX_SOURCE_BYTES} an import reads")


def read_text(path: Path) -> str:
    check_size(path)
    return path.read_text(encoding="utf-8", errors="replace")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file; a torn, non-object or unreadably deep line is skipped."""
    records = []
    for line in read_text(path).splitlines():
        try:
            record = parse_json(line)
        except ValueError:  # JSONDecodeError included
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def text_of(value: Any) -> str:
    """Text of a content value that may be a string, a list of text blocks, or something else (as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in value)
    return json.dumps(value, ensure_ascii=False)


def lower_types(schema: Any) -> Any:
    """A Gemini-style schema (`"type": "STRING"`) as JSON Schema (`"type": "string"`)."""
    if isinstance(schema, dict):
        return {
            key: value.lower() if key == "type" and isinstance(value, str) else lower_types(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [lower_types(item) for item in schema]
    return schema


def parse_iso(stamp: Any) -> float | None:
    from datetime import datetime

    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def repair(messages: list[Message]) -> tuple[list[Message], list[str]]:
    """Valid tool-call structure, as `sii recordings validate` wants it: a call never answered (the session was
    cut off) is removed from its message, a result whose call is unknown (or answered already) is dropped, an
    assistant message left with neither text nor calls goes, and results are moved to right after their calls
    when the source interleaved them with other messages. Returns the messages and what was changed."""
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    fixed: list[Message] = []
    dropped_calls = dropped_results = 0
    open_calls: set[str] = set()
    for message in messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            calls = [c for c in message["tool_calls"] if c["id"] in answered and c["id"] not in open_calls]
            dropped_calls += len(message["tool_calls"]) - len(calls)
            message = {**message, "tool_calls": calls} if calls else _without_calls(message)
            if not calls and not message.get("content") and not message.get("reasoning"):
                continue
            open_calls |= {c["id"] for c in calls}
        elif message["role"] == "tool":
            if message.get("tool_call_id") not in open_calls:
                dropped_results += 1
                continue
            open_calls.discard(message["tool_call_id"])
        fixed.append(message)
    changes = []
    if dropped_calls:
        changes.append(f"{dropped_calls} tool call(s) without a result removed")
    if dropped_results:
        changes.append(f"{dropped_results} tool result(s) without a call removed")
    return _results_after_calls(fixed), changes


def _without_calls(message: Message) -> Message:
    return {key: value for key, value in message.items() if key != "tool_calls"}  # type: ignore[return-value]


def _results_after_calls(messages: list[Message]) -> list[Message]:
    """Each batch of results straight after its calls: a user line written between a call and its result (some
    agents record an interruption or a hook that way) follows the results instead."""
    ordered: list[Message] = []
    waiting: list[Message] = []  # non-tool messages seen while calls were open
    pending: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            ordered.append(message)
            pending.discard(message["tool_call_id"])
            if not pending:
                ordered += waiting
                waiting = []
        elif pending:
            waiting.append(message)
        else:
            ordered.append(message)
            pending = {c["id"] for c in message.get("tool_calls", [])}
    return ordered + waiting


def source_key(path: Path, fmt: str) -> str:
    """The recording's id: the format and a hash of the file's resolved path and its bytes. The same file
    imported again is the same recording; a file that grew since (a session continued) is a new one."""
    sha = hashlib.sha256(str(path.resolve()).encode() + b"\0")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return f"import-{fmt}-{sha.hexdigest()[:16]}"


def write_session(session: ImportedSession, path: Path, directory: Path, outcome: str | None) -> str | None:
    """Write `session` as a sii recording; returns its id, or None when it was imported before. Secrets are
    redacted as it is written (RecordingWriter's default), tool results keep their pairing, reasoning stays."""
    checked_outcome(outcome)
    session_id = source_key(path, session.source)
    target = directory / f"{session_id}.jsonl"
    if target.exists():
        return None
    contexts, notes = [], list(session.notes)
    for context in session.contexts:
        fixed, changes = repair(context)
        notes += changes
        if fixed:
            contexts.append(fixed)
    if not contexts:
        raise ValueError(f"{path}: no messages to import")
    started = session.started_at if session.started_at is not None else path.stat().st_mtime
    where = f" (its session {session.source_id})" if session.source_id else ""
    meta = SessionMeta(
        session_id=session_id,
        sii_version=producer_version(),
        face="import",
        model=session.model or "unknown",
        base_url="",
        sampling={},
        workspace=session.workspace,
        started_at=started,
        outcome=outcome,
        notes=[f"imported from {session.source} log {path.resolve()}{where}", *notes],
        tags=[f"source:{session.source}"],
    )
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")  # not *.jsonl: never listed half-written
    partial.unlink(missing_ok=True)
    writer = RecordingWriter(partial)
    try:
        writer.session(meta, session.tools, sync=False)
        for number, context in enumerate(contexts):
            start = 0 if number == 0 else _carried(context)
            if number:  # the agent compacted: the model's view starts over from these messages
                writer.compaction(sync=False, summary=None, messages=context[:start], tokens_before=None)
            for message in context[start:]:
                writer.message(message=message)
        writer.end({"ended_at": started}, sync=False)  # the close syncs
    finally:
        writer.close()
        if writer.last_error is not None or sys.exc_info()[0] is not None:
            partial.unlink(missing_ok=True)
    if writer.last_error is not None:
        raise ValueError(f"cannot write {partial}: {writer.last_error}")
    partial.rename(target)
    return session_id


def _carried(context: list[Message]) -> int:
    """How many leading messages of a compacted context the compaction itself gave the model: everything
    before the user message that opened the first turn after it (as sii records its own compactions)."""
    first_reply = next((i for i, m in enumerate(context) if m["role"] == "assistant"), len(context))
    users = [i for i in range(first_reply) if context[i]["role"] == "user"]
    return users[-1] if len(users) > 1 else first_reply if not users else users[0]


def openai_tool_calls(raw_calls: Any) -> list[ToolCall]:
    """Tool calls in the OpenAI message format as sii records them: entries without a `function` object are
    skipped, and arguments that are no JSON object are kept under `input`."""
    calls: list[ToolCall] = []
    for call in raw_calls if isinstance(raw_calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = parse_arguments(function.get("arguments", {}))
        calls.append(
            {
                "id": str(call.get("id", "")),
                "type": "function",
                "function": {
                    "name": str(function.get("name", "")),
                    "arguments": arguments if isinstance(arguments, dict) else {"input": arguments},
                },
            }
        )
    return calls
