"""Slash commands of the REPL. Each is a name, a line of help, and a function of the REPL's state; a
command returns False to end the REPL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from recordings.export import find_sessions
from recordings.store import OUTCOMES, list_sessions
from sii.approval import MODE_HELP, MODES
from sii.client import ModelError
from sii.config import Settings
from sii.custom_commands import CustomCommand, load_custom_commands
from sii.mentions import strip_attachments
from sii.session import Session, TurnCheckpoint
from tools.checkpoints import CheckpointError
from tools.shell import kept_output

INIT_PROMPT = """Study this repository (layout, languages, how to build, test and lint it, conventions you can
see in the code) and write AGENTS.md at its root: a concise guide for a coding agent working here, with
the exact commands to run the tests. If AGENTS.md exists, improve it instead of replacing it."""


@dataclass
class ReplState:
    """What slash commands act on. `open_session(path)` replaces the session: a fresh one, or a resumed one."""

    settings: Settings
    console: Console
    session: Session
    open_session: Callable[[Path | None], Session]  # a fresh session (None), or one resumed from a recording
    send: Callable[[str], None]  # runs a turn with this message, as a typed one runs (Esc and Ctrl-C stop it)
    confirm: Callable[[str], bool] = lambda question: False  # asks the user a yes/no question

    def switch_to(self, recording: Path | None) -> None:
        self.session.close()
        self.session = self.open_session(recording)


@dataclass(frozen=True)
class SlashCommand:
    name: str
    usage: str
    help: str
    run: Callable[[ReplState, str], bool]


def _help(state: ReplState, argument: str) -> bool:
    table = Table.grid(padding=(0, 2))
    for command in COMMANDS.values():
        table.add_row(Text(command.usage, "cyan"), command.help)
    custom, problems = custom_commands(state.session.context.workspace)
    for name, found in custom.items():  # the repository's text: plain Text, never rich markup
        table.add_row(Text(f"{name} [ARGS]", "cyan"), Text(found.description or f"(from {found.source})"))
    state.console.print(table)
    for problem in problems:
        state.console.print(Text(f"skipped custom command {problem}", "yellow"))
    state.console.print(
        "Enter sends; Alt-Enter adds a line; @path attaches a file; Esc or Ctrl-C stops a turn;"
        " Shift-Tab cycles the mode (ask, auto-edit, plan).",
        highlight=False,
    )
    return True


def custom_commands(workspace: Path) -> tuple[dict[str, CustomCommand], list[str]]:
    """The custom commands a name of which no built-in command has (built-ins win), and the files skipped."""
    found, problems = load_custom_commands(workspace)
    return {name: command for name, command in found.items() if name not in COMMANDS and name != "/quit"}, problems


def _exit(state: ReplState, argument: str) -> bool:
    return False


def _mode(state: ReplState, argument: str) -> bool:
    if argument:
        if argument not in MODES:
            state.console.print(Text(f"unknown mode {argument!r}; one of {', '.join(MODES)}", "red"))
            return True
        state.session.policy.mode = argument  # type: ignore[assignment]  # checked just above
        if argument == "plan":
            state.console.print(Text("The model is told with your next message: investigate and plan, change nothing."))
    for mode in MODES:
        marker = "●" if mode == state.session.policy.mode else " "
        state.console.print(f"{marker} {mode:<10} {MODE_HELP[mode]}", highlight=False)
    return True


def _model(state: ReplState, argument: str) -> bool:
    client = state.session.client
    try:
        served = [entry["id"] for entry in client.list_models()]
    except ModelError as exc:
        state.console.print(Text(str(exc), "red"))
        return True
    if argument:
        if argument not in served:
            state.console.print(Text(f"{argument!r} is not served at {client.base_url}: {', '.join(served)}", "red"))
            return True
        state.session.switch_model(argument)
    for name in served:
        state.console.print(f"{'●' if name == client.model else ' '} {name}", highlight=False)
    return True


def _clear(state: ReplState, argument: str) -> bool:
    state.switch_to(None)
    state.console.print(Text(f"New session {state.session.id}; the previous one stays recorded.", "dim"))
    return True


def _diff(state: ReplState, argument: str) -> bool:
    session = state.session
    observation = session.agent.registry.dispatch("git_diff", {"ref": argument} if argument else {}, session.context)
    if observation.is_error or not observation.data.get("diff"):
        state.console.print(Text(observation.text, "red" if observation.is_error else "dim"))
    else:
        state.console.print(Syntax(observation.data["diff"], "diff", theme="ansi_dark", background_color="default"))
    return True


def _output(state: ReplState, argument: str) -> bool:
    """Tool results are folded to a few lines as they stream; this unfolds one."""
    results = [m for m in state.session.messages if m["role"] == "tool"]
    back = int(argument) if argument.isdigit() and int(argument) > 0 else 1
    if back > len(results):
        state.console.print(Text(f"only {len(results)} tool result(s) in this conversation", "red"))
        return True
    message = results[-back]
    path = state.session.output_files.get(str(message.get("tool_call_id")))
    whole = kept_output(path) if path else None  # a command's whole output, beyond what the model was shown
    state.console.print(Text(whole or message["content"] or "(empty)"), soft_wrap=True)
    return True


def _cost(state: ReplState, argument: str) -> bool:
    agent, window = state.session.agent, state.session.client.context_window
    used = f"{agent.prompt_tokens:,} / {window:,}" if window else f"{agent.prompt_tokens:,}"
    state.console.print(
        f"context: {used} tokens · generated this session: {agent.completion_tokens:,} tokens", highlight=False
    )
    return True


def _compact(state: ReplState, argument: str) -> bool:
    before = len(state.session.messages)
    try:
        state.session.agent.compact(argument)
    except ModelError as exc:
        state.console.print(Text(str(exc), "red"))
        return True
    state.console.print(Text(f"Compacted {before} messages into a summary.", "dim"))
    return True


REWIND_PARTS = {"both": (True, True), "files": (True, False), "chat": (False, True)}
REWIND_USAGE = "usage: /rewind N [files|chat|both], N from the /rewind list; /rewind undo puts back the last rewind"


def _list_rewind_points(state: ReplState, newest_first: list[TurnCheckpoint]) -> None:
    if not newest_first:
        state.console.print(Text("no checkpoints yet: one is taken before each turn that changes files", "dim"))
    after = None  # the snapshot taken after each turn: the next turn's (a turn that changed nothing shares it)
    for number, turn in enumerate(newest_first, start=1):
        when = time.strftime("%H:%M:%S", time.localtime(turn.time))
        if after is None:
            changed = bool(state.session.rewind_changes(turn))
        else:
            changed = after.checkpoint.id != turn.checkpoint.id
        note = "" if changed else "  (changed no files)"
        state.console.print(f"{number:>3}  {when}  before: {turn.label[:72]}{note}", highlight=False)
        after = turn
    hint = "/rewind N [files|chat|both] goes back to before turn N"
    if state.session.rewind_undo is not None:
        hint += "; /rewind undo puts back the last rewind"
    state.console.print(Text(hint, "dim"))


def _rewind(state: ReplState, argument: str) -> bool:
    newest_first = list(reversed(state.session.turn_checkpoints))
    if not argument:
        _list_rewind_points(state, newest_first)
        return True
    if argument == "undo":
        restored = state.session.undo_rewind()
        state.console.print(Text(f"Rewind undone: {len(restored)} file(s) put back; conversation restored.", "green"))
        return True
    number, _, part = argument.partition(" ")
    if not number.isdigit() or not 1 <= int(number) <= len(newest_first) or (part or "both") not in REWIND_PARTS:
        state.console.print(Text(REWIND_USAGE, "red"))
        return True
    files, conversation = REWIND_PARTS[part or "both"]
    turn = newest_first[int(number) - 1]
    changes = state.session.rewind_changes(turn) if files else {}
    if changes:
        for path, action in sorted(changes.items()):
            style = "red" if action == "delete" else "yellow"
            state.console.print(Text(f"  {action:<10} {path}", style), highlight=False)
        if not state.confirm(f"Rewind {len(changes)} file(s) to before “{turn.label}”? (/rewind undo reverts it)"):
            state.console.print(Text("Nothing rewound.", "dim"))
            return True
    restored = state.session.rewind(turn, files=files, conversation=conversation)
    what = f"{len(restored)} file(s) restored" if files else "files untouched"
    state.console.print(Text(f"Rewound: {what}; conversation {'rewound' if conversation else 'kept'}.", "green"))
    return True


def _permissions(state: ReplState, argument: str) -> bool:
    from sii.permissions import show_permissions

    show_permissions(state.console, state.session.policy, argument)
    return True


def _undo(state: ReplState, argument: str) -> bool:
    """The files as they were before the latest turn that changed them; the conversation stays."""
    if argument:
        state.console.print(Text("usage: /undo (the last turn's file changes; /rewind goes further back)", "red"))
        return True
    if not state.session.turn_checkpoints:
        state.console.print(Text("nothing to undo: no turn has changed files yet (or checkpoints are off)", "dim"))
        return True
    last = state.session.turn_checkpoints[-1]
    if not state.session.rewind_changes(last):
        state.console.print(Text(f"nothing to undo: the files are as they were before “{last.label}”", "dim"))
        return True
    return _rewind(state, "1 files")


def _init(state: ReplState, argument: str) -> bool:
    state.send(INIT_PROMPT + (f"\n\n{argument}" if argument else ""))
    if state.session.reload_system_prompt():  # AGENTS.md from this turn is what the model reads from now on
        state.console.print(Text("The project's instructions (AGENTS.md) are now in the system prompt.", "green"))
    return True


def _label(outcome: str | None) -> Callable[[ReplState, str], bool]:
    def run(state: ReplState, argument: str) -> bool:
        if outcome is None and not argument:
            state.console.print(Text("usage: /note TEXT", "red"))
            return True
        state.session.label(outcome, argument or None)
        state.console.print(Text(f"labelled: {outcome}" if outcome else "note added", "green"))
        return True

    return run


def _resume(state: ReplState, argument: str) -> bool:
    directory = state.settings.recordings
    if not argument:
        workspace = str(state.session.context.workspace)
        table = Table("id", "started", "messages", "outcome", "first prompt", box=None)
        mine = [s for s in list_sessions(directory) if s.workspace == workspace and s.session_id != state.session.id]
        for summary in mine[:10]:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.started_at))
            table.add_row(
                summary.session_id, started, str(summary.messages), summary.outcome or "-", summary.first_prompt[:50]
            )
        state.console.print(table if mine else Text("no earlier sessions in this workspace", "dim"))
        return True
    (path,) = find_sessions(directory, [argument])
    state.switch_to(path)
    show_restored(state.console, state.session)
    return True


RESTORED_TURNS_SHOWN = 3


def _first_lines(text: str, count: int = 2, width: int = 150) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    shown = "\n".join(line[:width] for line in lines[:count])
    return shown + (" …" if len(lines) > count or any(len(line) > width for line in lines[:count]) else "")


def show_restored(console: Console, session: Session) -> None:
    """A resumed conversation: how much came back, and its last turns folded to a few lines each."""
    messages = session.messages
    starts = [index for index, message in enumerate(messages) if message["role"] == "user"]
    console.print(Text(f"Resumed session {session.id}: {len(messages)} messages restored.", "dim"))
    shown = starts[-RESTORED_TURNS_SHOWN:]
    if len(starts) > len(shown):
        console.print(Text(f"  … {len(starts) - len(shown)} earlier turn(s)", "dim"))
    for number, start in enumerate(shown):
        end = shown[number + 1] if number + 1 < len(shown) else len(messages)
        turn = messages[start:end]
        console.print(Text("› " + _first_lines(strip_attachments(turn[0]["content"] or ""), 1), "bold"))
        calls = sum(len(m.get("tool_calls", [])) for m in turn)
        answer = next((m["content"] for m in reversed(turn) if m["role"] == "assistant" and m.get("content")), "")
        if calls:
            console.print(Text(f"  ⏺ {calls} tool call(s)", "cyan"))
        if answer:
            console.print(Text("  " + _first_lines(answer).replace("\n", "\n  "), "dim"))


def is_slash_command(text: str) -> bool:
    """A line starting with `/` is a command unless it reads as a path (`/src/app/calc.py has a bug`)."""
    if not text.startswith("/"):
        return False
    name = text.split(maxsplit=1)[0]
    return name in COMMANDS or name == "/quit" or ("/" not in name[1:] and "." not in name)


COMMANDS: dict[str, SlashCommand] = {
    command.name: command
    for command in [
        SlashCommand("/help", "/help", "this list", _help),
        SlashCommand("/mode", "/mode [MODE]", "show or set the approval mode", _mode),
        SlashCommand(
            "/permissions", "/permissions [revoke N | save N]", "what runs unasked; take back or keep", _permissions
        ),
        SlashCommand("/model", "/model [NAME]", "show the served models, or switch", _model),
        SlashCommand("/clear", "/clear", "start a new conversation (and recording)", _clear),
        SlashCommand("/resume", "/resume [ID]", "list this workspace's sessions, or continue one", _resume),
        SlashCommand("/diff", "/diff [REF]", "the workspace's git diff", _diff),
        SlashCommand("/rewind", "/rewind [N [files|chat|both] | undo]", "go back to before an earlier turn", _rewind),
        SlashCommand("/undo", "/undo", "undo the last turn's file changes (the conversation stays)", _undo),
        SlashCommand("/output", "/output [N]", "the full text of the last (or Nth last) tool result", _output),
        SlashCommand("/cost", "/cost", "tokens in the context window and generated", _cost),
        SlashCommand("/compact", "/compact [FOCUS]", "replace the conversation by a summary of it", _compact),
        SlashCommand("/init", "/init [NOTES]", "have the agent write AGENTS.md for this repository", _init),
        *(
            SlashCommand(
                f"/{outcome}", f"/{outcome} [NOTE]", f"label this session {outcome} for training", _label(outcome)
            )
            for outcome in OUTCOMES
        ),
        SlashCommand("/note", "/note TEXT", "add an annotator's note to the recording", _label(None)),
        SlashCommand("/exit", "/exit", "end the session (also Ctrl-D, or Ctrl-C twice)", _exit),
    ]
}


def run_slash_command(state: ReplState, text: str) -> bool:
    """Run `/name argument` (a built-in command, else a custom one); unknown names get a hint. Returns False
    when the REPL should end."""
    name, _, argument = text.partition(" ")
    command = COMMANDS.get(name) or (COMMANDS["/exit"] if name == "/quit" else None)
    if command is None:
        custom = custom_commands(state.session.context.workspace)[0].get(name)
        if custom is None:
            state.console.print(Text(f"unknown command {name}; /help lists them", "red"))
        else:
            message = custom.prompt(argument.strip())
            state.console.print(Text(f"{name}: sending {custom.source} ({len(message):,} characters)", "dim"))
            state.send(message)
        return True
    try:
        return command.run(state, argument.strip())
    except (ValueError, CheckpointError) as exc:  # e.g. an unknown session id, a checkpoint git refused
        state.console.print(Text(str(exc), "red"))
        return True
