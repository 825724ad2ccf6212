"""The typed events the agent loop emits. Faces render them; the recorder stores them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from recordings.schema import Message, ToolCall
from tools.base import Observation

TurnEndReason = Literal["done", "interrupted", "step_limit", "error", "declined"]


class StopTurn(Exception):
    """Raised while a call is approved: the user refused it and wants the turn to end there. The message is what
    the model reads as that call's result; the calls after it are not run."""


@dataclass(frozen=True)
class UserMessage:
    message: Message


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class AssistantMessage:
    """A complete assistant reply, as appended to the conversation."""

    message: Message
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallStreaming:
    """A tool call is being written: its name so far and how many characters of arguments have arrived. For a
    face's progress only (a long write_file takes a while); not recorded, not in stream-json."""

    name: str
    characters: int


@dataclass(frozen=True)
class ToolCallStarted:
    call: ToolCall


@dataclass(frozen=True)
class ToolResult:
    """A tool's observation and the tool message the model will see."""

    call: ToolCall
    observation: Observation
    message: Message


@dataclass(frozen=True)
class Compacted:
    """The conversation was replaced by a summary; `messages` is what the model sees from now on."""

    summary: str
    messages: list[Message]
    tokens_before: int


@dataclass(frozen=True)
class ErrorEvent:
    message: str


@dataclass(frozen=True)
class TurnEnd:
    """How a turn ended: why, after how many model requests, the model's last word (empty when it did not have
    it) and the tokens the turn's requests used, summed."""

    reason: TurnEndReason
    steps: int
    answer: str = ""
    usage: dict[str, int] = field(default_factory=dict)


Event = (
    UserMessage
    | TextDelta
    | ReasoningDelta
    | AssistantMessage
    | ToolCallStreaming
    | ToolCallStarted
    | ToolResult
    | Compacted
    | ErrorEvent
    | TurnEnd
)


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready form of an event (`stream-json` output): its type in snake_case plus its fields."""
    name = type(event).__name__
    kind = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return {"type": kind, **asdict(event)}
