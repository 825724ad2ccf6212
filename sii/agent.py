"""The agent loop: user message -> model -> tool calls -> observations -> model, until a reply without
tool calls or the step limit. UI-free and storage-free: everything it does goes out as events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from recordings.schema import Message, ToolCall
from sii.client import Completion, ModelError
from sii.compaction import (
    SUMMARY_PROMPT,
    compacted_view,
    estimate_tokens,
    needs_compaction,
    reply_budget,
    reply_reserve,
    summary_budget,
    summary_request,
)
from sii.events import (
    AssistantMessage,
    Compacted,
    ErrorEvent,
    Event,
    ReasoningDelta,
    StopTurn,
    TextDelta,
    ToolCallStarted,
    ToolCallStreaming,
    ToolResult,
    TurnEnd,
    TurnEndReason,
    UserMessage,
)
from sii.transport import ContextOverflow
from tools.base import Observation, Tool, ToolContext, ToolRegistry

# Returns None to run the call, or why it may not run (see sii.approval.ApprovalPolicy.check).
Approver = Callable[[Tool, ToolCall], str | None]
# Called with an approved call just before it runs (e.g. a checkpoint of the workspace). Part of the call: a
# Ctrl-C inside it interrupts the turn like one inside the tool.
BeforeRun = Callable[[Tool, ToolCall], None]
INTERRUPTED = "Interrupted by the user before this call finished."
SESSION_ENDED = "The session ended before this call finished."
NOT_RUN_AFTER_REFUSAL = "Not run: the user declined an earlier call of this reply and stopped the turn."


class ChatModel(Protocol):
    """What the agent needs of a model (sii.client.ModelClient is one): streamed completions, and the context
    window it learns from the server (None: unknown), which the agent sets when a refusal tells it."""

    context_window: int | None

    def chat(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]],
        sampling: dict[str, Any],
        on_text: Callable[[str], None] = ...,
        on_reasoning: Callable[[str], None] = ...,
        on_tool: Callable[[str, int], None] = ...,
    ) -> Completion: ...


class EmptySummary(ModelError):
    """The model answered the compaction request without a summary."""


def allow_all(tool: Tool, call: ToolCall) -> str | None:
    return None


def run_anyway(tool: Tool, call: ToolCall) -> None:
    return None


def unanswered_calls(messages: list[Message]) -> list[ToolCall]:
    """The calls that have no tool message yet, in order."""
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    return [
        call
        for message in messages
        if message["role"] == "assistant"
        for call in message.get("tool_calls", [])
        if call["id"] not in answered
    ]


def answer_unanswered_calls(messages: list[Message], content: str = SESSION_ENDED) -> list[Message]:
    """Tool messages for calls left without a result (a process killed mid-call), so a resumed conversation
    is well-formed again: every call answered, in order."""
    return [{"role": "tool", "tool_call_id": call["id"], "content": content} for call in unanswered_calls(messages)]


def listener_name(listener: Callable[[Event], None]) -> str:
    return getattr(listener, "__qualname__", None) or type(listener).__qualname__


class Agent:
    """Holds one conversation. `run_turn` never raises for model or tool failures, for a failing listener, nor
    for Ctrl-C wherever it lands (a listener, the approval question, the `before_run` hook): each ends the turn
    with a reason, or is reported and the turn goes on, and the conversation stays well-formed (every call
    answered)."""

    def __init__(
        self,
        client: ChatModel,
        registry: ToolRegistry,
        context: ToolContext,
        system_prompt: str,
        sampling: dict[str, Any],
        approve: Approver = allow_all,
        max_steps: int = 50,
        before_run: BeforeRun = run_anyway,
    ) -> None:
        self.client = client
        self.registry = registry
        self.context = context
        self.sampling = sampling
        self.approve = approve
        self.before_run = before_run
        self.max_steps = max_steps
        self.messages: list[Message] = [{"role": "system", "content": system_prompt}]
        self.prompt_tokens = 0  # the size of the last request: how full the context window is
        self._measured_upto = 0  # how many messages that request held
        self.completion_tokens = 0  # everything the model generated in this session
        self._listeners: list[Callable[[Event], None]] = []
        self._failed: set[int] = set()  # listeners whose failure this turn was reported (by id)
        self._reporting = False
        self._streamed: dict[str, list[str]] = {"content": [], "reasoning": []}  # the reply being streamed

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: Event, shielded: bool = False) -> None:
        """Give `event` to every listener. A listener that fails is reported (an ErrorEvent, once a turn per
        listener) and the others still get the event: a face's or a hook's bug never ends the turn. A Ctrl-C in
        a listener interrupts the turn, except `shielded`, while the turn is being closed."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except KeyboardInterrupt:
                if not shielded:
                    raise
            except Exception as exc:
                self._report_failure(listener, event, exc, shielded)

    def _report_failure(self, listener: Callable[[Event], None], event: Event, exc: Exception, shielded: bool) -> None:
        if self._reporting or id(listener) in self._failed:  # no report of a report, and one line a turn
            return
        self._failed.add(id(listener))
        self._reporting = True
        try:
            name = listener_name(listener)
            what = f"{type(exc).__name__}: {exc}"
            self._emit(ErrorEvent(f"an event listener ({name}) failed on {type(event).__name__}: {what}"), shielded)
        finally:
            self._reporting = False

    def run_turn(self, text: str) -> TurnEnd:
        """One turn. An interrupt anywhere in it ends the turn with every call answered (with what the
        KeyboardInterrupt says, else INTERRUPTED) and `TurnEnd("interrupted")`."""
        self._failed = set()
        progress = _TurnProgress()
        try:
            reason = self._turn(text, progress)
        except KeyboardInterrupt as exc:
            reason = "interrupted"
            self._answer_open_calls(str(exc) or INTERRUPTED)
        end = TurnEnd(reason, progress.steps, self._answer(), dict(progress.usage))
        self._emit(end, shielded=True)
        return end

    def _turn(self, text: str, progress: _TurnProgress) -> TurnEndReason:
        user: Message = {"role": "user", "content": text}
        self.messages.append(user)
        self._emit(UserMessage(user))
        while progress.steps < self.max_steps:
            progress.steps += 1
            try:
                completion = self._fitted_chat(text)
            except ModelError as exc:
                self._emit(ErrorEvent(str(exc)))
                return "error"
            except KeyboardInterrupt:
                self._keep_interrupted_reply()
                return "interrupted"
            if completion.problems:  # the model's (or server's) fault, not a failure: say so and go on
                self._emit(
                    ErrorEvent("the reply was malformed; sii used what it could: " + "; ".join(completion.problems))
                )
            self.messages.append(completion.message)
            self.prompt_tokens = completion.usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens += completion.usage.get("completion_tokens", 0)
            progress.count(completion.usage)
            self._emit(AssistantMessage(completion.message, completion.finish_reason, completion.usage))
            calls = completion.message.get("tool_calls", [])
            if not calls:
                return "done"
            if stopped := self._run_calls(calls, cut_off=completion.finish_reason == "length"):
                return stopped
        return "step_limit"

    def _answer_open_calls(self, note: str) -> None:
        """After an interrupt outside the calls' own handler: answer every call still open with `note`. A second
        Ctrl-C meanwhile does not stop this; the calls it left open are answered on the next pass."""
        while True:
            try:
                for call in unanswered_calls(self.messages):
                    message: Message = {"role": "tool", "tool_call_id": call["id"], "content": note}
                    self.messages.append(message)
                    self._emit(ToolResult(call, Observation(note, is_error=True), message), shielded=True)
                return
            except KeyboardInterrupt:
                continue

    def _answer(self) -> str:
        """The turn's answer: the last message's text when the model had the last word, else empty (a turn always
        adds a message, so the last one is this turn's, a compaction's summary view included)."""
        final = self.messages[-1]
        return (final.get("content") or "") if final["role"] == "assistant" else ""

    def _fitted_chat(self, request: str) -> Completion:
        """One model call that fits the context window. Compacts first when the window is nearly full; after a
        context-length refusal, learns the window, compacts (when that can help) and tries once more: the
        second refusal is the turn's error, so this never loops."""
        if self._window_nearly_full() and self._compaction_helps():
            self._compact_or_go_on(request)
        sampling = self._sized_sampling()
        try:
            return self._chat(sampling)
        except ContextOverflow as exc:
            self._learn_window(exc, self.messages, self.registry.schemas())
            if exc.prompt_tokens is not None:
                self.prompt_tokens = exc.prompt_tokens  # the server's count for these very messages
            compacted = (exc.prompt_tokens is None or self._window_nearly_full()) and self._compaction_helps()
            if compacted:
                self.compact(current_request=request)
            retry = self._sized_sampling()
            if not compacted and retry == sampling:
                raise  # the same request again would be refused again
        return self._chat(retry)

    def _chat(self, sampling: dict[str, Any]) -> Completion:
        self._measured_upto = len(self.messages)
        streamed = self._streamed = {"content": [], "reasoning": []}

        def on_text(piece: str) -> None:
            streamed["content"].append(piece)
            self._emit(TextDelta(piece))

        def on_reasoning(piece: str) -> None:
            streamed["reasoning"].append(piece)
            self._emit(ReasoningDelta(piece))

        return self.client.chat(
            self.messages,
            self.registry.schemas(),
            sampling,
            on_text=on_text,
            on_reasoning=on_reasoning,
            on_tool=lambda name, characters: self._emit(ToolCallStreaming(name, characters)),
        )

    def _keep_interrupted_reply(self) -> None:
        """A reply stopped by Ctrl-C mid-stream stays in the conversation as far as it got (the person saw it,
        and the model should know what it had said), marked `interrupted`; its unfinished tool calls are dropped."""
        content, reasoning = ("".join(self._streamed[part]) for part in ("content", "reasoning"))
        self._streamed = {"content": [], "reasoning": []}
        if not content.strip() and not reasoning.strip():
            return
        message: Message = {"role": "assistant", "content": content or None}
        if reasoning:
            message["reasoning"] = reasoning
        self.messages.append(message)
        self._emit(AssistantMessage(message, "interrupted", {}))

    def _estimate(self) -> int:
        return estimate_tokens(self.messages, self.registry.schemas(), self.prompt_tokens, self._measured_upto)

    def _sized_sampling(self) -> dict[str, Any]:
        """The sampling settings with max_tokens cut to what the window leaves after the prompt."""
        window = self.client.context_window
        if not window:
            return self.sampling
        return {**self.sampling, "max_tokens": reply_budget(self._estimate(), window, self.sampling.get("max_tokens"))}

    def _window_nearly_full(self) -> bool:
        window = self.client.context_window
        reserve = reply_reserve(window, self.sampling.get("max_tokens")) if window else 0
        return needs_compaction(self._estimate(), window, reserve)

    def _compaction_helps(self) -> bool:
        """A fresh conversation, or one just compacted, is the system prompt and one user message: a summary
        of it is no smaller."""
        return len(self.messages) > 2

    def _learn_window(self, exc: ContextOverflow, refused: list[Message], tools: list[dict[str, Any]]) -> None:
        """The window as the server states it. When it does not, a guess on the safe side: half the prompt it
        refused (the refusal does not say whether the prompt or max_tokens was too long)."""
        if exc.window:
            self.client.context_window = exc.window
            return
        guess = estimate_tokens(refused, tools, 0, 0) // 2
        self.client.context_window = min(self.client.context_window or guess, guess)

    def _compact_or_go_on(self, current_request: str) -> None:
        """Compact before a request that may not fit. A summary the model failed to write (an unusable reply)
        leaves the conversation as it is: the request is still sent, and the server says if it is too long."""
        try:
            self.compact(current_request=current_request)
        except EmptySummary as exc:
            self._emit(ErrorEvent(str(exc)))

    def compact(self, instructions: str = "", current_request: str | None = None) -> Compacted:
        """Replace the conversation by the model's summary of it. Raises ModelError if the model fails. A
        conversation too long for the summary request itself is sent with its oldest middle left out; if the
        server still refuses, with half as much of it, once."""
        prompt = f"{SUMMARY_PROMPT}\n\n{instructions}".strip()
        sampling, budget = self._summary_sampling(None)
        request = summary_request(self.messages, prompt, budget)
        try:
            completion = self.client.chat(request, [], sampling)
        except ContextOverflow as exc:
            self._learn_window(exc, request, [])
            sampling, budget = self._summary_sampling(budget)
            completion = self.client.chat(summary_request(self.messages, prompt, budget), [], sampling)
        summary = (completion.message.get("content") or "").strip()
        if not summary:
            raise EmptySummary("the model returned an empty summary; the conversation was not compacted")
        event = Compacted(summary, compacted_view(self.messages, summary, current_request), self._estimate())
        self.messages = list(event.messages)
        self.prompt_tokens = self._measured_upto = 0
        self._emit(event)
        return event

    def _summary_sampling(self, refused_budget: int | None) -> tuple[dict[str, Any], int | None]:
        """Sampling for the summary and the prompt tokens its request may use (None: no window known). After a
        refusal the budget at least halves, so each try is smaller than the last."""
        window = self.client.context_window
        if not window:
            return self.sampling, None
        max_tokens, budget = summary_budget(window, self.sampling.get("max_tokens"))
        if refused_budget is not None:
            budget = min(budget, refused_budget // 2)
        return {**self.sampling, "max_tokens": max_tokens}, budget

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
        return self.registry.dispatch(name, arguments, self.context, approve=lambda tool: self._approve(tool, call))

    def _approve(self, tool: Tool, call: ToolCall) -> str | None:
        """The approval, then (for an approved call) the `before_run` hook, so it runs for what will run only."""
        if refusal := self.approve(tool, call):
            return refusal
        self.before_run(tool, call)
        return None


class _TurnProgress:
    """How far a turn got: its model requests and the tokens they used, summed (every request, not the last)."""

    def __init__(self) -> None:
        self.steps = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def count(self, usage: dict[str, Any]) -> None:
        for key in self.usage:
            self.usage[key] += usage.get(key, 0)
