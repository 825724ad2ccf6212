"""One query's agent events as the SDK's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recordings.schema import ToolCall
from sii.bridge.protocol import Output
from sii.events import AssistantMessage, Compacted, ErrorEvent, Event, ToolResult, TurnEnd


def tool_use(call: ToolCall) -> dict[str, Any]:
    arguments = call["function"]["arguments"]
    tool_input = arguments if isinstance(arguments, dict) else {"unparsed_arguments": arguments}
    return {"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": tool_input}


@dataclass
class QueryStream:
    """One query's agent events as SDK events, plus what `completed` and `error` report."""

    output: Output
    request_id: Any
    tools_used: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    end: TurnEnd | None = None

    def __call__(self, event: Event) -> None:
        match event:
            case AssistantMessage(message=message):
                blocks = [{"type": "text", "text": message["content"]}] if message["content"] else []
                blocks += [tool_use(call) for call in message.get("tool_calls", [])]
                if blocks:
                    self.output.send(self.request_id, "assistant_message", role="assistant", content=blocks)
            case ToolResult(call=call, observation=observation):
                name = call["function"]["name"]
                if name not in self.tools_used:
                    self.tools_used.append(name)
                self.output.send(
                    self.request_id,
                    "tool_result",
                    tool_use_id=call["id"],
                    content=observation.text,
                    is_error=observation.is_error,
                )
            case Compacted(tokens_before=tokens_before):
                notice = f"the conversation was compacted ({tokens_before} tokens before)"
                self.output.send(self.request_id, "status", status="compacted", message=notice)
            case ErrorEvent(message=text):
                self.errors.append(text)
            case TurnEnd():
                self.end = event
