"""The system prompt: short, because small local models follow short instructions best, plus the project's
own instructions (AGENTS.md, and SII.md / CLAUDE.md when present), as Codex CLI and Claude Code read them."""

import logging
import stat
from contextlib import closing
from pathlib import Path

from tools.base import ToolContext, ToolError
from tools.text import clip

SYSTEM_PROMPT = """You are sii, a coding agent working in the user's repository at {workspace}.
Use the tools to inspect and change files, run commands and check git. Read before you edit, make the
smallest change that solves the task, run the relevant command to check it, then answer briefly with what
you did. Paths are relative to the repository root."""
MEMORY_FILES = ("AGENTS.md", "SII.md", "CLAUDE.md")
MAX_MEMORY_CHARS = 20_000
MAX_MEMORY_BYTES = 4 * MAX_MEMORY_CHARS + 4  # enough for MAX_MEMORY_CHARS of UTF-8, and a sign of more

log = logging.getLogger(__name__)


def _memory_text(context: ToolContext, name: str) -> str | None:
    """One instruction file, read through the workspace handle like any tool's read, so a symlink out of the
    repository (or a hard link to a file elsewhere) is not sent to the model; its refusal is logged and noted."""
    try:
        info = context.stat(name)
        if info is None or stat.S_ISDIR(info.st_mode):
            return None
        raw = context.read_bytes(name, MAX_MEMORY_BYTES)
    except ToolError as exc:
        log.warning("%s was not read: %s", name, exc)
        return f"[{name} was not read: it is not a plain file of this repository]"
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) > MAX_MEMORY_CHARS or len(raw) == MAX_MEMORY_BYTES:
        text = clip(text, MAX_MEMORY_CHARS) + f"\n[... {name} truncated at {MAX_MEMORY_CHARS} characters]"
    return text


def project_memory(workspace: Path) -> str:
    """The project's instruction files, each under its name; capped so a huge file cannot eat the window."""
    with closing(ToolContext(workspace=workspace)) as context:
        texts = {name: _memory_text(context, name) for name in MEMORY_FILES}
    return "\n\n".join(f"# {name}\n{text}" for name, text in texts.items() if text is not None)


def system_prompt(workspace: Path) -> str:
    memory = project_memory(workspace)
    base = SYSTEM_PROMPT.format(workspace=workspace)
    return f"{base}\n\nThe project's instructions:\n\n{memory}" if memory else base
