"""Asking the person at the terminal whether a call may run. What would happen is shown in full before the
question (the whole command, the diff of an edit), and the answer can carry the person's reason to the model."""

from __future__ import annotations

import json

from prompt_toolkit import PromptSession
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from sii.approval import Answer, Question
from sii.progress import Progress

MAX_SHOWN_LINES = 60


class TerminalApprover:
    """`y` runs the call, `a` also stops asking for what the question offers (a command prefix, an edit tool),
    `n` refuses and asks why (the turn then stops), and any other text refuses with that text as what to do
    instead (the model goes on with it)."""

    def __init__(self, prompt: PromptSession, console: Console, progress: Progress) -> None:
        self.prompt = prompt
        self.console = console
        self.progress = progress

    def __call__(self, question: Question) -> Answer:
        waiting, live = self.progress.what, self.progress.live
        self.progress.stop()  # the prompt owns the terminal while it asks
        self._show(question)
        always = question.always
        choices = "[y]es / [n]o" + (f" / [a]lways allow {always}" if always else "")
        try:
            reply = self.prompt.prompt(f"Allow {question.tool.name}? {choices} / or say what to do instead: ").strip()
        except (EOFError, KeyboardInterrupt):
            return Answer(allow=False)
        word = reply.lower()
        if word in ("y", "yes", "a", "always") and (always or word in ("y", "yes")):
            if waiting:
                self.progress.wait(waiting, live=live)
            return Answer(allow=True, always=word in ("a", "always"))
        if word in ("n", "no", ""):
            try:
                reason = self.prompt.prompt("Why not? (told to the model; Enter to skip; the turn stops) ").strip()
            except (EOFError, KeyboardInterrupt):
                reason = ""
            return Answer(allow=False, reason=reason)
        return Answer(allow=False, reason=f"instead, {reply}", go_on=True)

    def _show(self, question: Question) -> None:
        """The whole of what the call would do: a shell command as written, an edit as its diff, and why it is
        asked when a rule made it ask."""
        arguments = question.call["function"]["arguments"]
        if question.reason:
            self.console.print(Text(f"asking because {question.reason}", "yellow"))
        if question.command is not None:
            self.console.print(Syntax(_clip(question.command), "bash", theme="ansi_dark", background_color="default"))
            return
        if question.preview:
            self.console.print(Syntax(_clip(question.preview), "diff", theme="ansi_dark", background_color="default"))
            return
        shown = json.dumps(arguments, indent=2, ensure_ascii=False) if isinstance(arguments, dict) else str(arguments)
        self.console.print(Text(_clip(shown), "dim"))


def _clip(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= MAX_SHOWN_LINES:
        return text
    return "\n".join(lines[:MAX_SHOWN_LINES]) + f"\n… {len(lines) - MAX_SHOWN_LINES} more lines"
