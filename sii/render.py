"""Rendering agent events in the terminal with rich."""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from sii.events import (
    AssistantMessage,
    Compacted,
    ErrorEvent,
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCallStarted,
    ToolCallStreaming,
    ToolResult,
    TurnEnd,
    UserMessage,
)
from sii.markdown_stream import MarkdownStream
from sii.progress import Progress
from sii.trust import visible

PREVIEW_LINES = 8
TODO_MARKS = {"pending": ("☐", ""), "in_progress": ("◐", "bold"), "completed": ("☑", "dim")}


def describe_call(name: str, arguments: dict | str) -> str:
    """A one-line summary of a tool call, e.g. `run_shell(ls -la)`."""
    if isinstance(arguments, str):
        return f"{name}(<invalid JSON: {arguments[:60]}>)"
    if len(arguments) == 1:
        (value,) = arguments.values()
        shown = value if isinstance(value, str) else json.dumps(value)
    else:
        shown = ", ".join(f"{k}={json.dumps(v)[:40]}" for k, v in arguments.items())
    first_line = shown.splitlines()[0] if shown else ""
    return f"{name}({first_line[:100]}{'…' if len(shown) > len(first_line[:100]) else ''})"


def todo_checklist(todos: list[dict[str, str]]) -> Text:
    """The model's todo list as a compact checklist: ☐ pending, ◐ in progress, ☑ completed. The items are the
    model's words: control characters are shown escaped, never sent to the terminal."""
    checklist = Text()
    for number, item in enumerate(todos):
        mark, style = TODO_MARKS.get(item.get("status", ""), ("?", ""))
        checklist.append(("\n" if number else "") + f"  {mark} {visible(item.get('content', ''))}", style)
    return checklist


class Renderer:
    """Prints events as they come. With `stream=False` assistant text is not echoed (headless prints the
    final answer itself)."""

    def __init__(
        self,
        console: Console,
        stream: bool = True,
        progress: Progress | None = None,
        shell_output: Callable[[], list[str]] | None = None,
    ) -> None:
        """`shell_output`: the last lines a running shell command has printed, shown live under the spinner."""
        self.console = console
        self.stream = stream
        self.progress = progress
        self.shell_output = shell_output
        self._markdown = MarkdownStream(console)
        self._mid_line = False

    def _wait(self, what: str, live: Callable[[], list[str]] | None = None) -> None:
        if self.progress is not None:
            self.progress.wait(what, live=live)

    def _end_line(self) -> None:
        """Close the text being streamed (markdown or reasoning) before anything else is printed."""
        if self.progress is not None:
            self.progress.stop()
        self._markdown.finish()
        if self._mid_line:
            self.console.print()
            self._mid_line = False

    def __call__(self, event: Event) -> None:
        match event:
            case UserMessage():
                self._wait("waiting for the model")
            case TextDelta(text=text) if self.stream:
                if self.progress is not None:
                    self.progress.stop()
                if self._mid_line:  # reasoning came first: end its line
                    self.console.print()
                    self._mid_line = False
                self._markdown.feed(text)
            case ReasoningDelta(text=text) if self.stream:
                if self.progress is not None:
                    self.progress.stop()
                self.console.print(Text(text, style="dim italic"), end="", soft_wrap=True)
                self._mid_line = True
            case AssistantMessage():
                self._end_line()
            case ToolCallStreaming(name=name, characters=characters) if self.progress is not None:
                if not self.progress.active:
                    self._end_line()
                self.progress.wait(f"writing a {name or 'tool'} call", detail=f"{characters:,} characters")
            case ToolCallStarted(call=call):
                self._end_line()
                function = call["function"]
                self.console.print(Text("⏺ " + describe_call(function["name"], function["arguments"]), "cyan"))
                # Any tool may drive the shell (run_shell, a profile's run_shell_command); the tail is empty otherwise.
                self._wait(f"running {function['name']}", live=self.shell_output)
            case ToolResult(call=call, observation=observation):
                self._end_line()
                todos = observation.data.get("todos")
                if call["function"]["name"] == "todo_write" and not observation.is_error and isinstance(todos, list):
                    self.console.print(todo_checklist(todos))
                else:
                    self._render_observation(observation.text, observation.is_error, observation.data.get("diff"))
                self._wait("waiting for the model")
            case Compacted(tokens_before=tokens):
                self._end_line()
                self.console.print(Text(f"[compacted the conversation ({tokens:,} tokens) into a summary]", "yellow"))
            case ErrorEvent(message=message):
                self._end_line()
                self.console.print(Text(f"error: {message}", "bold red"))
            case TurnEnd(reason=reason, steps=steps):
                self._end_line()
                if reason == "done":
                    return
                note = {
                    "interrupted": "interrupted",
                    "step_limit": f"stopped after {steps} steps",
                    "declined": "stopped: you declined a call; say how to go on",
                }.get(reason)
                if note:
                    self.console.print(Text(f"[{note}]", "yellow"))

    def _render_observation(self, text: str, is_error: bool, diff: str | None) -> None:
        if diff:
            self.console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
        lines = text.splitlines()
        shown = "\n".join("  ⎿ " + line if i == 0 else "    " + line for i, line in enumerate(lines[:PREVIEW_LINES]))
        self.console.print(Text(shown, "red" if is_error else "dim"))
        if len(lines) > PREVIEW_LINES:
            self.console.print(Text(f"    … {len(lines) - PREVIEW_LINES} more lines (/output shows them)", "dim"))
