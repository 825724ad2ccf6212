"""The training format. Messages are OpenAI chat messages with tool-call arguments kept as JSON objects
(the shape of LIMI's released data); everything else about the session is metadata beside them."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NotRequired, TypedDict


def producer_version() -> str:
    """The installed sii's version, for files written outside a session (recordings never import sii)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sii")
    except PackageNotFoundError:
        return "unknown"


class FunctionCall(TypedDict):
    name: str
    arguments: dict[str, Any] | str  # an object; a string only when the model sent unparsable JSON


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class Message(TypedDict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    reasoning: NotRequired[str]
    tool_calls: NotRequired[list[ToolCall]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


@dataclass
class SessionMeta:
    """Facts about a session that training and curation need beside the messages."""

    session_id: str
    sii_version: str
    face: str
    model: str
    base_url: str
    sampling: dict[str, Any]
    workspace: str
    started_at: float
    git_head_start: str | None = None
    git_remote: str | None = None
    ended_at: float | None = None
    git_head_end: str | None = None
    outcome: str | None = None
    notes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parent_session: str | None = None  # the session this one was forked from
    chat_template: str | None = None  # the template the server rendered with, when sii knows it
    redacted: bool = False  # secrets were redacted as the recording was written
    tool_profile: str = "sii"  # whose tool names the calls use (recordings.tool_names): "sii" or "sii-cli"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionMeta:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


@dataclass
class Trajectory:
    """A session read back from the store."""

    meta: SessionMeta
    tools: list[dict[str, Any]]
    messages: list[Message]  # every message of the session, in order (compacted turns included)
    # Per message, the rest of its record: `usage` and `finish_reason` (assistant), `is_error` and `data`
    # (tool results: diffs, exit codes), `time`.
    extras: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: int = 0
    # What the model saw: one conversation per context window. A compaction starts a new one from its summary.
    contexts: list[list[Message]] = field(default_factory=list)
    context_tokens: list[int | None] = field(default_factory=list)  # the server's count, per context
    context_sources: list[list[int | None]] = field(default_factory=list)  # log index of each context message
    # Turns a curator excluded from training, by the log index of their user message (`exclude` records).
    excluded_turns: set[int] = field(default_factory=set)
    redactions: dict[str, int] = field(default_factory=dict)  # secrets redacted before writing, by kind
    needs_redaction: bool = True  # some record was written without redaction
    format_version: int | None = 1  # the header's (recordings.records.format_version); None: unreadable

    def token_count(self) -> int:
        """Tokens of the trajectory as the model processed them: per context window, the server's count for
        its last request plus the reply; ~4 characters a token where no count was recorded (imports)."""
        contexts = self.contexts or [self.messages]
        measured = self.context_tokens or [None] * len(contexts)
        return sum(
            tokens if tokens is not None else len(json.dumps(context, ensure_ascii=False)) // 4
            for context, tokens in zip(contexts, measured, strict=True)
        )

    def tools_used(self) -> set[str]:
        return {call["function"]["name"] for m in self.messages for call in m.get("tool_calls", [])}

    def samples(self) -> list[dict[str, Any]]:
        """Training samples in LIMI's `{"messages", "tools"}` shape, one per context window, each exactly what
        the model saw and said (never text it was not shown). A context is cut before its first excluded turn
        (later turns build on it); a context left without a reply of the model is dropped."""
        contexts = self.contexts or [self.messages]
        sources = self.context_sources or [list(range(len(self.messages)))]
        kept = []
        for context, origin in zip(contexts, sources, strict=True):
            cut = next((i for i, index in enumerate(origin) if index in self.excluded_turns), len(context))
            if any(message["role"] == "assistant" for message in context[:cut]):
                kept.append({"messages": context[:cut], "tools": self.tools})
        return kept


def unicode_safe(text: str) -> str:
    """`text` as valid Unicode, so it encodes as UTF-8 everywhere it goes: surrogate pairs are joined into the
    character they stand for and lone surrogates (from a JSON `\\udc80` escape or undecodable file names)
    become U+FFFD. Text without surrogates is returned as it is."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_type(value: object) -> str:
    """The JSON Schema name of a parsed JSON value's type, for messages that say what came instead."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


# The JSON Schema of a message as recordings hold it (wider than `Message`: imported content may be a list of
# parts). The schemas of whole records are derived from recordings.records (see recordings.typeschema).
TOOL_CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "arguments"],
            "properties": {"name": {"type": "string"}, "arguments": {"type": ["object", "string"]}},
        },
    },
    "required": ["function"],
}
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": ["string", "null", "array"]},
        "reasoning": {"type": "string"},
        "tool_calls": {"type": "array", "items": TOOL_CALL_SCHEMA},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
}
