"""Who may run what: approval modes plus allow/deny rules for shell commands, decided before each call
that changes something. Read-only tools always run.

Shell commands are judged from what bash would run (`sii.shell_commands`), never from their text. Deny
rules are a guard rail, not a boundary: what static reading cannot resolve is asked about, and the
sandbox (`--sandbox`) is what actually contains a command."""

from __future__ import annotations

import enum
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal, get_args

from sii.shell_commands import Argv, ParsedCommand, parse_command, split_rule

if TYPE_CHECKING:  # at run time only attributes are read: keep `sii --help` from importing every tool
    from recordings.schema import ToolCall
    from tools.base import Tool

Mode = Literal["ask", "auto-edit", "yolo", "plan"]
MODES: tuple[str, ...] = get_args(Mode)
MODE_HELP = {
    "ask": "confirm every write and shell command",
    "auto-edit": "file edits run without asking; shell commands ask",
    "yolo": "everything runs without asking",
    "plan": "read-only: nothing is written or run",
}


@dataclass(frozen=True)
class Answer:
    """The user's answer to one approval question. `always`: do not ask again for what the question offered
    (this command's prefix, or this edit tool); `reason`: why not, in the user's words, for the model; `go_on`: a
    refusal lets the model carry on with the turn instead of ending it."""

    allow: bool
    always: bool = False
    reason: str = ""
    go_on: bool = False


@dataclass(frozen=True)
class Question:
    """One approval question: the call, what the person should see first (the whole shell command, or the diff
    an edit would make), why a rule made it ask (None: an ordinary approval), and what "always" would allow
    (None: not offered)."""

    tool: Tool
    call: ToolCall
    command: str | None = None
    preview: str | None = None
    reason: str | None = None
    always: str | None = None


Asker = Callable[[Question], Answer]
# The diff a file edit would make, computed without making it (None: no preview for this call).
Previewer = Callable[["Tool", "ToolCall"], "str | None"]
# Programs whose first word is a subcommand: "always" for `git status` allows `git status`, not all of git.
SUBCOMMAND_PROGRAMS = frozenset(
    {
        "git",
        "npm",
        "pnpm",
        "yarn",
        "cargo",
        "go",
        "uv",
        "pip",
        "pip3",
        "docker",
        "kubectl",
        "make",
        "poetry",
        "dotnet",
        "bundle",
        "gradle",
        "mvn",
        "terraform",
        "helm",
        "brew",
        "apt",
        "conda",
        "just",
        "nix",
    }
)
# Writes under these directories (hooks, config, sii's own project settings) always ask, in every mode but yolo.
PROTECTED_DIRECTORIES = frozenset({".git", ".sii"})
# Spellings of one flag, so that a rule `rm -rf` also means `rm -R --force`.
FLAG_SYNONYMS: dict[str, dict[str, str]] = {
    "rm": {"-R": "-r", "--recursive": "-r", "--force": "-f"},
    "git": {"-f": "--force"},
}


class Match(enum.Enum):
    NO = "no"
    MAYBE = "maybe"  # an unresolved word could make it match
    YES = "yes"


def _flag(program: str, word: str) -> str:
    """One spelling per flag; GNU long options may be abbreviated (`--rec` is `--recursive`)."""
    synonyms = FLAG_SYNONYMS.get(program, {})
    if word.startswith("--") and len(word) > 2:
        name = word.split("=", 1)[0]
        return next(
            (short for long, short in synonyms.items() if long.startswith("--") and long.startswith(name)), name
        )
    return synonyms.get(word, word)


def _split_arguments(program: str, words: Argv) -> tuple[set[str], list[str | None]]:
    """The flags (short clusters split: `-rf` is `-r -f`) and the positional words, in order."""
    flags: set[str] = set()
    positionals: list[str | None] = []
    options_end = False
    for word in words:
        if word is None or options_end or not word.startswith("-") or word == "-":
            positionals.append(word)
        elif word == "--":
            options_end = True
        elif word.startswith("--"):
            flags.add(_flag(program, word))
        else:
            flags.update(_flag(program, f"-{char}") for char in word[1:])
    return flags, positionals


def _in_order(wanted: Sequence[str], words: Sequence[str | None], prefix: bool) -> bool:
    if prefix:
        return list(words[: len(wanted)]) == list(wanted)
    remaining = iter(words)
    return all(any(word == want for word in remaining) for want in wanted)


@dataclass(frozen=True)
class Rule:
    """A configured rule: a program, flags that must all be present in any spelling, and the positional
    words that follow the program (`git push`)."""

    text: str
    program: str
    flags: frozenset[str]
    positionals: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Rule | None:
        words = split_rule(text)
        if not words or words[0] is None:
            return None
        program = words[0]
        flags, positionals = _split_arguments(program, words[1:])
        return cls(text, program, frozenset(flags), tuple(p for p in positionals if p is not None))

    def match(self, argv: Argv, prefix: bool) -> Match:
        """Deny rules (`prefix=False`) match their words anywhere in order, and MAYBE when an unresolved word
        could complete them. Allow rules (`prefix=True`) need their words first and resolved."""
        if argv[0] is None:
            return Match.MAYBE
        if argv[0] != self.program:
            return Match.NO
        flags, positionals = _split_arguments(self.program, argv[1:])
        if self.flags <= flags and _in_order(self.positionals, positionals, prefix):
            return Match.YES
        return Match.MAYBE if None in argv[1:] else Match.NO


def _rules(texts: Iterable[str]) -> list[Rule]:
    return [rule for text in texts if (rule := Rule.parse(text)) is not None]


@dataclass(frozen=True)
class ShellVerdict:
    """`denied`: a deny rule matches; `hidden`: a deny rule might match, so it is never run unasked;
    `allowed`: allow rules cover every part of it."""

    denied: str | None = None
    hidden: str | None = None
    allowed: bool = False


def _clip(text: str, limit: int = 160) -> str:
    """Refusals quote the command; a huge one is shortened so the model's context is not flooded."""
    return text if len(text) <= limit else text[:limit] + "…"


def _shown(argv: Argv) -> str:
    return _clip(" ".join(word if word is not None else "…" for word in argv))


def judge_shell(parsed: ParsedCommand, deny: Sequence[Rule], allow: Sequence[Rule]) -> ShellVerdict:
    """Denied if any simple command matches a deny rule; hidden if a deny list exists and something could
    hide a match; allowed only if every simple command matches an allow rule and nothing else happens."""
    hidden = None
    for command in parsed.commands:
        for rule in deny:
            # A program named among the arguments may be run by one that is not known as a wrapper.
            starts = [i for i, word in enumerate(command.argv) if i == 0 or word == rule.program]
            for start in starts:
                verdict = rule.match(command.argv[start:], prefix=False)
                if verdict is Match.YES and start == 0:
                    return ShellVerdict(
                        denied=f"`{_clip(command.text)}` runs `{_shown(command.argv)}`, "
                        f"which the deny rule {rule.text!r} in the configuration blocks."
                    )
                if verdict is not Match.NO and hidden is None:
                    because = command.why or (
                        f"`{rule.program}` appears in its arguments" if start else "a word is only known when it runs"
                    )
                    hidden = (
                        f"`{_clip(command.text)}` may run what the deny rule {rule.text!r} blocks: {_clip(because)}"
                    )
        if command.why and deny and hidden is None:
            hidden = f"`{_clip(command.text)}` cannot be checked against the deny rules: {_clip(command.why)}"
    allowed = (
        bool(parsed.commands)
        and not parsed.writes
        and all(
            not command.why and any(rule.match(command.argv, prefix=True) is Match.YES for rule in allow)
            for command in parsed.commands
        )
    )
    return ShellVerdict(hidden=hidden, allowed=allowed)


def command_prefixes(command: str) -> list[str] | None:
    """The rules "always" adds for a shell command: each simple command's program, with its subcommand for
    programs that have them (`git status`, `python -m pytest`). None when the command cannot be covered by
    prefixes (an unresolved part, a file-writing redirection): then it is asked about every time."""
    parsed = parse_command(command)
    if not parsed.commands or parsed.writes or parsed.unresolved:
        return None
    prefixes: list[str] = []
    for simple in parsed.commands:
        argv = simple.argv
        program = argv[0]
        if program is None:
            return None
        words = [program]
        second = argv[1] if len(argv) > 1 else None
        if program in SUBCOMMAND_PROGRAMS and second and not second.startswith("-"):
            words.append(second)
        elif program.startswith("python") and second == "-m" and len(argv) > 2 and argv[2]:
            words += ["-m", argv[2]]
        prefix = " ".join(shlex.quote(word) for word in words)
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes


def _protected(path: object, workspace: Path | None) -> bool:
    """Whether writing `path` touches a `.git` or `.sii` directory (or file), read both as written (`..`
    folded) and, with a workspace, as resolved through symbolic links, the way the tools open it."""
    if not isinstance(path, str) or "\0" in path:
        return False  # the tool refuses it
    if workspace is None:
        spellings = [PurePath(os.path.normpath(path))]
    else:
        root = workspace.resolve()
        try:
            spellings = [Path(os.path.normpath(root / path)), (root / path).resolve()]
        except (OSError, RuntimeError):  # a symlink loop: the tool refuses it, but do not guess
            return True
        spellings = [s.relative_to(root) if s.is_relative_to(root) else s for s in spellings]
    return any(part.lower() in PROTECTED_DIRECTORIES for spelling in spellings for part in spelling.parts)


@dataclass
class ApprovalPolicy:
    """`check` returns None to run a call, or the reason it was refused, which the model reads."""

    mode: Mode = "ask"
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: Asker | None = None  # None: nobody to ask (headless), so asking means refusing
    workspace: Path | None = None  # where relative paths of file edits resolve (symlinks followed)
    # Granted by answering "always" in this session: shell command prefixes, and edit tools. Never saved unless
    # the user saves them (/permissions), and gone with the session.
    session_allow: list[str] = field(default_factory=list)
    session_tools: set[str] = field(default_factory=set)
    preview: Previewer = lambda tool, call: None

    def _shell_verdict(self, tool: Tool, arguments: Any) -> ShellVerdict:
        command = _shell_command(tool, arguments)
        if command is None:
            return ShellVerdict()
        return judge_shell(parse_command(command), _rules(self.deny), _rules([*self.allow, *self.session_allow]))

    def _protected_writes(self, tool: Tool, arguments: Any) -> str | None:
        """Why a file edit must be asked about (it writes under .git or .sii), or None."""
        if not tool.edits_files or not isinstance(arguments, dict):
            return None
        if tool.paths_written is None:
            return f"{tool.name} does not say which files it writes"
        written = [path for path in tool.paths_written(arguments) if _protected(path, self.workspace)]
        return f"it writes {_clip(', '.join(written))}, under a protected .git or .sii path" if written else None

    def _offer(self, tool: Tool, arguments: Any) -> tuple[list[str], str] | None:
        """What answering "always" would grant for this call, and how to say it; None if it cannot be offered."""
        if (command := _shell_command(tool, arguments)) is not None:
            prefixes = command_prefixes(command)
            if not prefixes:
                return None
            return prefixes, "commands starting with " + " or ".join(f"`{prefix}`" for prefix in prefixes)
        return ([], f"{tool.name} in this session") if tool.edits_files else None

    def _ask(self, tool: Tool, call: ToolCall, reason: str | None) -> str | None:
        if self.ask is None:
            if reason is None:
                return f"{tool.name} needs approval, and this headless run allows it only with --yolo."
            if tool.shell_command is not None:
                return f"not run without the user's approval, and this headless run cannot ask: {reason}."
            return f"{tool.name} needs approval: {reason}; this headless run allows it only with --yolo."
        # "always" is offered only for plain approvals: never for protected paths or what a deny rule may hide.
        offer = self._offer(tool, call["function"]["arguments"]) if reason is None else None
        arguments = call["function"]["arguments"]
        command = _shell_command(tool, arguments)
        question = Question(
            tool,
            call,
            command=command,
            preview=None if command is not None else self.preview(tool, call),
            reason=reason,
            always=offer[1] if offer else None,
        )
        answer = self.ask(question)
        if answer.allow:
            if answer.always and offer is not None:
                prefixes, _ = offer
                self.session_allow += [prefix for prefix in prefixes if prefix not in self.session_allow]
                if not prefixes:
                    self.session_tools.add(tool.name)
            return None
        refusal = "the user declined this call" + (f": {answer.reason}" if answer.reason else ".")
        if not answer.go_on:
            from sii.events import StopTurn

            raise StopTurn(refusal + " The user stopped the turn here; wait for their next message.")
        return refusal + " Ask them, or try another way."

    def revoke(self, rule: str) -> bool:
        """Take back an "always" of this session (a command prefix or a tool name)."""
        if rule in self.session_allow:
            self.session_allow.remove(rule)
            return True
        if rule in self.session_tools:
            self.session_tools.discard(rule)
            return True
        return False

    def check(self, tool: Tool, call: ToolCall) -> str | None:
        if not tool.mutates:
            return None
        arguments = call["function"]["arguments"]
        verdict = self._shell_verdict(tool, arguments)
        if verdict.denied:
            return verdict.denied
        if self.mode == "plan":
            return "plan mode is read-only: describe the change you would make instead of making it."
        if verdict.hidden:
            return self._ask(tool, call, verdict.hidden)  # in every mode: a deny rule may be hiding in it
        if self.mode == "yolo":
            return None
        if protected := self._protected_writes(tool, arguments):
            return self._ask(tool, call, protected)  # neither auto-edit nor allow rules cover these
        if verdict.allowed or (tool.edits_files and (self.mode == "auto-edit" or tool.name in self.session_tools)):
            return None
        return self._ask(tool, call, None)


def _shell_command(tool: Tool, arguments: Any) -> str | None:
    command = tool.shell_command(arguments) if tool.shell_command and isinstance(arguments, dict) else None
    return command if isinstance(command, str) else None
