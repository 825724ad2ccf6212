"""Custom slash commands: `NAME.md` in the workspace's `.sii/commands/` or the user's `commands/` folder beside
config.toml (Claude Code's format). `/NAME args` sends the file's text, `$ARGUMENTS` replaced by `args`, as the
user's message; optional YAML front matter gives the `description:` /help shows. A command is only a prompt, no
code runs; still a project's file is the repository's text: read only if it is a plain file inside the workspace
(no link out to a secret), capped in size, its description shown as plain text."""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from sii.config import user_config_file

MAX_COMMAND_BYTES = 32 * 1024
MAX_COMMANDS = 200  # per folder: /help and Tab stay quick in a repository that plants thousands
MAX_DESCRIPTION = 120
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class CustomCommand:
    name: str  # with its slash: /review
    description: str
    template: str
    source: Path

    def prompt(self, arguments: str) -> str:
        """The message `/name arguments` sends; arguments are appended where the text has no `$ARGUMENTS`."""
        if "$ARGUMENTS" in self.template:
            return self.template.replace("$ARGUMENTS", arguments)
        return f"{self.template}\n\nARGUMENTS: {arguments}" if arguments else self.template


def command_dirs(workspace: Path) -> list[tuple[Path, Path]]:
    """Where commands come from, and the folder each file must really lie in (a project's, in the workspace even
    when `.sii` is a link). The user's first: on a name both define, the user's own file wins."""
    user = user_config_file().parent / "commands"
    return [(user, user), (workspace / ".sii" / "commands", workspace)]


def load_custom_commands(workspace: Path) -> tuple[dict[str, CustomCommand], list[str]]:
    """Every custom command by `/name`, and why each file that is not one was skipped. Read afresh on each use,
    so a file added while the REPL runs is there at once."""
    commands: dict[str, CustomCommand] = {}
    problems: list[str] = []
    for directory, root in command_dirs(workspace):
        try:
            paths = sorted(directory.glob("*.md"))
        except OSError:
            continue
        if len(paths) > MAX_COMMANDS:
            problems.append(f"{directory}: {len(paths)} files, only the first {MAX_COMMANDS} are read")
        for path in paths[:MAX_COMMANDS]:
            try:
                command = _read(path, root)
            except ValueError as exc:
                problems.append(f"{path}: {exc}")
                continue
            commands.setdefault(command.name, command)
    return commands, problems


def _read(path: Path, root: Path) -> CustomCommand:
    name = path.stem
    if not NAME.fullmatch(name):
        raise ValueError("not a command name (letters, digits, - and _ only)")
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"a link, or outside {root}: only plain files there are read")
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from exc
    with os.fdopen(handle, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ValueError("not a plain file")
        data = file.read(MAX_COMMAND_BYTES + 1)
    if len(data) > MAX_COMMAND_BYTES:
        raise ValueError(f"larger than {MAX_COMMAND_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8 text") from exc
    description, body = _split_front_matter(text)
    if not body.strip():
        raise ValueError("no prompt text")
    return CustomCommand(f"/{name}", description, body.strip(), path)


def _split_front_matter(text: str) -> tuple[str, str]:
    """The front matter's `description:` (one plain line) and the text after it."""
    match = FRONT_MATTER.match(text)
    if match is None:
        return "", text
    header = "".join(c for c in match.group(1) if c in "\t\n" or unicodedata.category(c)[0] != "C")
    try:  # YAML refuses control characters: without them, a description with an escape sequence still reads
        fields = yaml.safe_load(header)
    except yaml.YAMLError:
        fields = None
    described = fields.get("description") if isinstance(fields, dict) else None
    return (_plain_line(described) if isinstance(described, str) else ""), text[match.end() :]


def _plain_line(text: str) -> str:
    """Control characters (escape sequences, newlines) out, cut to a line of help."""
    shown = " ".join("".join(c if unicodedata.category(c)[0] != "C" else " " for c in text).split())
    return shown if len(shown) <= MAX_DESCRIPTION else shown[: MAX_DESCRIPTION - 1] + "…"
