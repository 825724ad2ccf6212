"""The training format. Messages are OpenAI chat messages with tool-call arguments kept as JSON objects
(the shape of LIMI's released data); everything else about the session is metadata beside them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

SCHEMA_VERSION = 1


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
    schema_version: int = SCHEMA_VERSION

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
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: int = 0
    # What the model saw: one conversation per context window. A compaction starts a new one from its summary.
    contexts: list[list[Message]] = field(default_factory=list)

    def samples(self) -> list[dict[str, Any]]:
        """Training samples in LIMI's `{"messages", "tools"}` shape, one per context window, each exactly what
        the model saw and said (never text it was not shown)."""
        return [{"messages": context, "tools": self.tools} for context in self.contexts or [self.messages]]
