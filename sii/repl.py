"""The interactive face: prompt_toolkit for input, rich for output, Esc or Ctrl-C ends a turn, not the session."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.filters import has_completions
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from rich.console import Console
from rich.text import Text

from model_server.endpoint import resolve_endpoint
from sii import __version__
from sii.approval import Mode
from sii.approver import TerminalApprover
from sii.config import Settings
from sii.esc_watcher import EscWatcher
from sii.mentions import expand_mentions, missing_mentions
from sii.progress import Progress
from sii.render import Renderer
from sii.session import Session
from sii.slash import COMMANDS, ReplState, custom_commands, is_slash_command, run_slash_command, show_restored
from sii.trust import ask_to_trust
from tools.base import ToolRegistry
from tools.shell import RUN_SHELL, live_tail


class SparingFileHistory(FileHistory):
    """Prompt history on disk that a full or read-only SII_HOME only switches off (said once), never crashing
    the prompt: the history of this REPL stays in memory."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        super().__init__(str(path))
        self._path = path
        self._warn: Callable[[str], None] | None = warn

    def load_history_strings(self) -> Iterable[str]:
        try:
            yield from super().load_history_strings()
        except OSError:
            return

    def store_string(self, string: str) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            super().store_string(string)
        except OSError as exc:
            if self._warn is not None:
                self._warn(f"prompt history is not saved: {self._path} cannot be written ({exc.strerror or exc})")
                self._warn = None


SHIFT_TAB_MODES: tuple[Mode, ...] = ("ask", "auto-edit", "plan")  # yolo only on purpose: /mode yolo or --yolo


def next_mode(mode: str) -> Mode:
    """The mode Shift-Tab goes to; from yolo, back to asking."""
    if mode not in SHIFT_TAB_MODES:
        return SHIFT_TAB_MODES[0]
    return SHIFT_TAB_MODES[(SHIFT_TAB_MODES.index(mode) + 1) % len(SHIFT_TAB_MODES)]


def _key_bindings(state: ReplState) -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event) -> None:  # type: ignore[no-untyped-def]
        event.current_buffer.insert_text("\n")

    @bindings.add("s-tab", filter=~has_completions)  # in the completion menu it still goes back
    def _cycle_mode(event) -> None:  # type: ignore[no-untyped-def]
        state.session.policy.mode = next_mode(state.session.policy.mode)
        event.app.invalidate()  # the status line shows it now

    return bindings


class PromptCompleter(Completer):
    """Slash commands (built-in and custom) at the start of the input; workspace paths after `@`."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.paths = PathCompleter(get_paths=lambda: [str(workspace)])

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and " " not in text:
            helps = {name: command.help for name, command in COMMANDS.items()}
            helps |= {name: found.description for name, found in custom_commands(self.workspace)[0].items()}
            for name, help_text in helps.items():
                if name.startswith(text):
                    yield Completion(name, start_position=-len(text), display_meta=help_text)
            return
        word = document.get_word_before_cursor(WORD=True)
        if word.startswith("@"):
            yield from self.paths.get_completions(Document(word[1:]), complete_event)


def run_user_shell(console: Console, session: Session, command: str) -> str | None:
    """`!command`: run it in the session's shell, as the user (no approval: they typed it), show the output, and
    return the note that tells the model about it with the next message."""
    if not command:
        console.print(Text("usage: !COMMAND runs COMMAND in the session's shell", "red"))
        return None
    # sii's own shell tool, whatever the model is offered (a tool profile names it otherwise, or leaves it out)
    observation = ToolRegistry([RUN_SHELL]).dispatch("run_shell", {"command": command}, session.context)
    console.print(Text(observation.text, "red" if observation.is_error else ""), soft_wrap=True)
    return f"I ran this in the shell:\n```\n$ {command}\n{observation.text}\n```"


def _status_line(state: ReplState) -> str:
    session = state.session
    window = session.client.context_window
    tokens = f"{session.agent.prompt_tokens:,}/{window:,}" if window else f"{session.agent.prompt_tokens:,}"
    return f" {session.client.model} · {tokens} tokens · mode {session.policy.mode} · {session.id} "


def run_repl(
    settings: Settings,
    resume: Path | None = None,
    fork: bool = False,
    first_message: str | None = None,
    on_session: Callable[[Session], None] | None = None,
) -> int:
    """The REPL. `first_message` is sent as the first turn (e.g. an annotation task's query); `on_session` is
    called with every session the REPL opens (the first, and after /clear or /resume), before any turn."""
    console = Console()
    progress = Progress(console)
    watcher = EscWatcher.on_stdin()
    approver = TerminalApprover(PromptSession(), console, progress, pause=watcher.paused)
    ask_to_trust(settings, approver.prompt.prompt)  # the repository's own MCP servers, before any session
    resolve_endpoint(settings, console.print)

    def open_session(recording: Path | None, fork: bool = False) -> Session:
        session = Session(settings, face="repl", ask=approver, notify=console.print, resume=recording, fork=fork)
        shell_output = partial(live_tail, session.context)
        session.subscribe(Renderer(console, progress=progress, shell_output=shell_output))
        if on_session is not None:
            on_session(session)
        return session

    def confirm(question: str) -> bool:
        try:
            with watcher.paused():  # a no-op between turns; during one, the question gets the keys
                return approver.prompt.prompt(f"{question} [y/N] ").strip().lower().startswith("y")
        except (EOFError, KeyboardInterrupt):
            return False

    shell_notes: list[str] = []  # `!command` runs, told to the model with the next message

    def send(message: str) -> None:
        """One turn; Esc or Ctrl-C ends it, and what was typed meanwhile waits at the next prompt."""
        if shell_notes:
            message = "\n\n".join([*shell_notes, message])
            shell_notes.clear()
        try:
            with watcher.watching():
                state.session.run_turn(message)
        except KeyboardInterrupt:
            console.print(Text("[interrupted]", "yellow"))
        finally:
            progress.stop()
            watcher.hand_over(prompt.input)

    state = ReplState(settings, console, open_session(resume, fork), open_session, send, confirm)
    prompt: PromptSession[str] = PromptSession(
        history=SparingFileHistory(settings.home / "history", console.print),
        key_bindings=_key_bindings(state),
        completer=PromptCompleter(state.session.context.workspace),
        complete_while_typing=False,
        bottom_toolbar=lambda: _status_line(state),
    )
    banner = f"[bold]sii {__version__}[/] · model [cyan]{state.session.client.model}[/] · session {state.session.id}"
    console.print(banner + " · /help", highlight=False)
    if resume is not None:
        show_restored(console, state.session)
    pending_exit = False
    queued = [first_message] if first_message else []
    try:
        while True:
            try:
                text = queued.pop() if queued else prompt.prompt("› ").strip()
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
            if text.startswith("!"):
                if note := run_user_shell(console, state.session, text[1:].strip()):
                    shell_notes.append(note)
                continue
            if is_slash_command(text):
                if not run_slash_command(state, text):
                    break
                continue
            message, attached = expand_mentions(text, state.session.context)
            if attached:
                console.print(Text(f"attached: {', '.join(attached)}", "dim"))
            if missing := missing_mentions(text, attached):
                shown = ", ".join("@" + name for name in missing)
                console.print(
                    Text(f"not attached: {shown} (no readable text file of that name in the workspace)", "yellow")
                )
            send(message)
    finally:
        state.session.close()
    if state.session.recorded:
        console.print(Text(f"Session recorded: {state.session.recording_path}", "dim"))
    return 0
