"""The user's consent to start a repository's own MCP servers (`[[mcp_servers]]` in `.sii/config.toml`).

A cloned repository chose those commands, so they start only after the user said yes to exactly them: the
answer is remembered per repository (its real path) together with a digest of the server definitions, and any
change to a command, an argument, the environment or a URL asks again."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config imports this module: only the type is needed here
    from sii.config import McpServerConfig, Settings

STORE_NAME = "trusted-mcp.json"
YES = ("y", "yes")


def digest(servers: Sequence[McpServerConfig]) -> str:
    """What was agreed to: every field of every definition, in order."""
    text = json.dumps([asdict(server) for server in servers], sort_keys=True, ensure_ascii=True)
    return sha256(text.encode()).hexdigest()


def visible(text: str) -> str:
    """Text from a repository, safe to show: control and formatting characters (escape sequences, bidi
    overrides) written as escapes, so a command cannot hide part of itself on the terminal."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


class TrustStore:
    """`$SII_HOME/trusted-mcp.json`: {repository real path: digest of the server definitions agreed to}."""

    def __init__(self, home: Path) -> None:
        self.path = home / STORE_NAME

    def _entries(self) -> dict[str, str]:
        """The stored answers; a missing, unreadable or malformed store trusts nothing."""
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(entries, dict):
            return {}
        return {key: value for key, value in entries.items() if isinstance(value, str)}

    def trusts(self, repository: Path, servers: Sequence[McpServerConfig]) -> bool:
        return bool(servers) and self._entries().get(str(repository.resolve())) == digest(servers)

    def trust(self, repository: Path, servers: Sequence[McpServerConfig]) -> None:
        """Remember the yes, replacing an earlier one for this repository; written whole, then renamed."""
        entries = {**self._entries(), str(repository.resolve()): digest(servers)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".trusted-mcp.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entries, file, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise


def question(repository: Path, servers: Sequence[McpServerConfig]) -> str:
    """The prompt: where the servers come from and exactly what would run or be reached (each word quoted as
    Python writes it, which also escapes control characters)."""
    lines = [f"The repository {visible(str(repository.resolve()))} asks to start these MCP servers:"]
    for server in servers:
        if server.command is not None:
            lines.append(f"  {server.name}: runs {' '.join(repr(part) for part in (server.command, *server.args))}")
        else:
            lines.append(f"  {server.name}: connects to {server.url!r}")
        if server.cwd is not None:
            lines.append(f"    in {server.cwd!r}")
        if server.env:
            lines.append(f"    environment: {', '.join(visible(name) for name in server.env)}")
        if server.headers:
            lines.append(f"    headers: {', '.join(visible(name) for name in server.headers)}")
    lines.append("They run with your permissions. Start them, now and in later sessions here? [y/N]: ")
    return "\n".join(lines)


def ask_to_trust(settings: Settings, answer: Callable[[str], str]) -> None:
    """Ask about the repository's untrusted MCP servers; a yes starts them and is remembered, anything else
    (Ctrl-C and Ctrl-D included) leaves them off for this run and asks again next time."""
    servers = settings.project_mcp_servers
    if not servers:
        return
    try:
        reply = answer(question(settings.workspace, servers))
    except (EOFError, KeyboardInterrupt):
        return
    if reply.strip().lower() not in YES:
        return
    with suppress(OSError):  # a full or read-only disk: the yes holds for this run, and is asked again next time
        TrustStore(settings.home).trust(settings.workspace, servers)
    settings.admit_project_servers()
