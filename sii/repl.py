"""The interactive face: prompt_toolkit for input, rich for output, Ctrl-C ends a turn, not the session."""

from __future__ import annotations

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from rich.console import Console
from rich.text import Text

from recordings.schema import ToolCall
from sii import __version__
from sii.config import Settings
from sii.render import Renderer, describe_call
from sii.session import Session
from tools.base import Tool

HELP = """Type a request and press Enter (Alt-Enter for a new line).
  /help            this help
  /success [note]  label this session a success for training (also /fail, /unknown)
  /note TEXT       add an annotator's note to the recording
  /exit            end the session (also Ctrl-D, or Ctrl-C twice)
Ctrl-C while the agent works stops the current turn."""


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event) -> None:  # type: ignore[no-untyped-def]
        event.current_buffer.insert_text("\n")

    return bindings


class ShellApprover:
    """Asks before each write or shell command; 'a' allows that tool for the rest of the session."""

    def __init__(self, prompt: PromptSession) -> None:
        self.prompt = prompt
        self.always: set[str] = set()

    def __call__(self, tool: Tool, call: ToolCall) -> bool:
        if tool.name in self.always:
            return True
        summary = describe_call(tool.name, call["function"]["arguments"])
        try:
            answer = self.prompt.prompt(f"Allow {summary}? [y]es / [n]o / [a]lways: ").strip().lower()
        except EOFError:
            return False
        if answer.startswith("a"):
            self.always.add(tool.name)
        return answer.startswith(("y", "a"))


def run_repl(settings: Settings) -> int:
    console = Console()
    settings.home.mkdir(parents=True, exist_ok=True)
    prompt = PromptSession(history=FileHistory(str(settings.home / "history")), key_bindings=_key_bindings())
    session = Session(settings, face="repl", ask=ShellApprover(PromptSession()), notify=console.print)
    session.agent.subscribe(Renderer(console))
    banner = f"[bold]sii {__version__}[/] · model [cyan]{session.client.model}[/] · session {session.id} · /help"
    console.print(banner, highlight=False)
    pending_exit = False
    try:
        while True:
            try:
                text = prompt.prompt("› ").strip()
            except KeyboardInterrupt:
                if pending_exit:
                    break
                pending_exit = True
                console.print("[dim](Ctrl-C again or /exit to quit)[/]")
                continue
            except EOFError:
                break
            pending_exit = False
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/help":
                console.print(HELP, markup=False)
                continue
            command, _, argument = text.partition(" ")
            if command in ("/success", "/fail", "/unknown", "/note"):
                outcome = None if command == "/note" else command[1:]
                session.label(outcome, argument.strip() or None)
                console.print(Text(f"labelled: {outcome or 'note added'}", "green"))
                continue
            if text.startswith("/"):
                console.print(f"unknown command {text.split()[0]}; /help lists them", markup=False)
                continue
            try:
                session.agent.run_turn(text)
            except KeyboardInterrupt:
                console.print(Text("[interrupted]", "yellow"))
    finally:
        session.close()
    console.print(Text(f"Session recorded: {session.recording_path}", "dim"))
    return 0
