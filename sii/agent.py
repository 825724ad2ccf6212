"""The agent loop: user message -> model -> tool calls -> observations -> model, until a reply without
tool calls or the step limit. UI-free and storage-free: everything it does goes out as events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recordings.schema import Message, ToolCall
from sii.client import ModelClient, ModelError
from sii.compaction import SUMMARY_PROMPT, compacted_view, estimate_tokens, needs_compaction
from sii.events import (
    AssistantMessage,
    Compacted,
    ErrorEvent,
    Event,
    ReasoningDelta,
    StopTurn,
    TextDelta,
    ToolCallStarted,
    ToolResult,
    TurnEnd,
    TurnEndReason,
    UserMessage,
)
from tools.base import Observation, Tool, ToolContext, ToolRegistry

# Returns None to run the call, or why it may not run (see sii.approval.ApprovalPolicy.check).
Approver = Callable[[Tool, ToolCall], str | None]
INTERRUPTED = "Interrupted by the user before this call finished."
NOT_RUN_AFTER_REFUSAL = "Not run: the user declined an earlier call of this reply and stopped the turn."


def allow_all(tool: Tool, call: ToolCall) -> str | None:
    return None


def answer_unanswered_calls(messages: list[Message]) -> list[Message]:
    """Tool messages for calls left without a result (a process killed mid-call), so a resumed conversation
    is well-formed again: every call answered, in order."""
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    return [
        {"role": "tool", "tool_call_id": call["id"], "content": "The session ended before this call finished."}
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("tool_calls", [])
        if call["id"] not in answered
    ]


class Agent:
    """Holds one conversation. `run_turn` never raises for model or tool failures, nor for Ctrl-C:
    each ends the turn with a reason, and the conversation stays well-formed (every call answered)."""

    def __init__(
        self,
        client: ModelClient,
        registry: ToolRegistry,
        context: ToolContext,
        system_prompt: str,
        sampling: dict[str, Any],
        approve: Approver = allow_all,
        max_steps: int = 50,
    ) -> None:
        self.client = client
        self.registry = registry
        self.context = context
        self.sampling = sampling
        self.approve = approve
        self.max_steps = max_steps
        self.messages: list[Message] = [{"role": "system", "content": system_prompt}]
        self.prompt_tokens = 0  # the size of the last request: how full the context window is
        self._measured_upto = 0  # how many messages that request held
        self.completion_tokens = 0  # everything the model generated in this session
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def run_turn(self, text: str) -> TurnEnd:
        user: Message = {"role": "user", "content": text}
        self.messages.append(user)
        self._emit(UserMessage(user))
        steps = 0
        reason: TurnEndReason = "step_limit"
        while steps < self.max_steps:
            steps += 1
            try:
                if self._window_nearly_full():
                    self.compact(current_request=text)
                self._measured_upto = len(self.messages)
                completion = self.client.chat(
                    self.messages,
                    self.registry.schemas(),
                    self.sampling,
                    on_text=lambda piece: self._emit(TextDelta(piece)),
                    on_reasoning=lambda piece: self._emit(ReasoningDelta(piece)),
                )
            except ModelError as exc:
                self._emit(ErrorEvent(str(exc)))
                reason = "error"
                break
            except KeyboardInterrupt:
                reason = "interrupted"
                break
            self.messages.append(completion.message)
            self.prompt_tokens = completion.usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens += completion.usage.get("completion_tokens", 0)
            self._emit(AssistantMessage(completion.message, completion.finish_reason, completion.usage))
            calls = completion.message.get("tool_calls", [])
            if not calls:
                reason = "done"
                break
            if stopped := self._run_calls(calls, cut_off=completion.finish_reason == "length"):
                reason = stopped
                break
        end = TurnEnd(reason, steps)
        self._emit(end)
        return end

    def _window_nearly_full(self) -> bool:
        estimated = estimate_tokens(self.messages, self.registry.schemas(), self.prompt_tokens, self._measured_upto)
        return needs_compaction(estimated, self.client.context_window, self.sampling.get("max_tokens", 0))

    def compact(self, instructions: str = "", current_request: str | None = None) -> Compacted:
        """Replace the conversation by the model's summary of it. Raises ModelError if the model fails."""
        request = f"{SUMMARY_PROMPT}\n\n{instructions}".strip()
        completion = self.client.chat([*self.messages, {"role": "user", "content": request}], [], self.sampling)
        summary = (completion.message.get("content") or "").strip()
        if not summary:
            raise ModelError("the model returned an empty summary; the conversation was not compacted")
        event = Compacted(summary, compacted_view(self.messages, summary, current_request), self.prompt_tokens)
        self.messages = list(event.messages)
        self.prompt_tokens = self._measured_upto = 0
        self._emit(event)
        return event

    def _run_calls(self, calls: list[ToolCall], cut_off: bool) -> TurnEndReason | None:
        """Answer every call in order. Returns why the turn must end when Ctrl-C or the user's refusal stopped
        them (the rest are answered too, unrun), else None. `cut_off`: the reply hit max_tokens, so a call with
        unparsable arguments was truncated, not malformed."""
        stopped: TurnEndReason | None = None
        interrupted = INTERRUPTED  # or what the interrupt says (KeyboardInterrupt("why")), e.g. a time limit
        for call in calls:
            self._emit(ToolCallStarted(call))
            if stopped == "interrupted":
                observation = Observation(interrupted, is_error=True)
            elif stopped == "declined":
                observation = Observation(NOT_RUN_AFTER_REFUSAL, is_error=True)
            else:
                try:
                    observation = self._run_call(call, cut_off)
                except KeyboardInterrupt as exc:
                    stopped, interrupted = "interrupted", str(exc) or INTERRUPTED
                    observation = Observation(interrupted, is_error=True)
                except StopTurn as refusal:
                    stopped = "declined"
                    observation = Observation(f"Not run: {refusal}", is_error=True, data={"refused": str(refusal)})
            message: Message = {"role": "tool", "tool_call_id": call["id"], "content": observation.text}
            self.messages.append(message)
            self._emit(ToolResult(call, observation, message))
        return stopped

    def _run_call(self, call: ToolCall, cut_off: bool) -> Observation:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        if cut_off and isinstance(arguments, str):
            return Observation(
                f"Error: your reply hit the token limit while writing the arguments of {name}, so the call was "
                "cut off and not run. Make a smaller call (e.g. several small edits instead of one large write).",
                is_error=True,
            )
        tool = self.registry.get(name)
        if tool is not None and (refusal := self.approve(tool, call)):
            return Observation(f"Not run: {refusal}", is_error=True, data={"refused": refusal})
        return self.registry.dispatch(name, arguments, self.context)
