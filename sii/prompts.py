"""The system prompt: short, because small local models follow short instructions best, plus the project's
own instructions (AGENTS.md, and SII.md / CLAUDE.md when present), as Codex CLI and Claude Code read them."""

import logging
import re
import stat
import sys
import time
from contextlib import closing
from pathlib import Path

from tools.base import ToolContext, ToolError
from tools.text import clip

SYSTEM_PROMPT = """You are sii, a coding agent working in the user's repository at {workspace}.
Use the tools to inspect and change files, run commands and check git. Read before you edit, make the
smallest change that solves the task, run the relevant command to check it, then answer briefly with what
you did. Paths are relative to the repository root."""
# Told with the user's message (after it) while the approval mode is plan, and once when it stops being plan.
PLAN_MODE_ON = """<system-reminder>
Plan mode is on: change nothing. Investigate with the read-only tools (read, search, git status, diff and log),
then propose a concrete step-by-step plan and wait. Nothing is written, edited, committed or run until the user
switches the mode.
</system-reminder>"""
PLAN_MODE_OFF = """<system-reminder>
Plan mode is off (the mode is now {mode}): you may make changes again.
</system-reminder>"""
REMINDER = re.compile(r"\s*<system-reminder>\n.*?\n</system-reminder>\s*$", re.DOTALL)
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


def appended(prompt: str, extra: str | None) -> str:
    """`extra` (the user's --append-system-prompt, an SDK caller's prompt) after the prompt, as its last part."""
    return f"{prompt}\n\n{extra.strip()}" if extra and extra.strip() else prompt


def system_prompt(workspace: Path, profile: str = "sii", sandbox: bool = False) -> str:
    """sii's own prompt, or (`gemini-cli`) the one SII CLI's models were trained with."""
    memory = project_memory(workspace)
    if profile == "gemini-cli":
        return gemini_cli_prompt(workspace, memory, sandbox)
    base = SYSTEM_PROMPT.format(workspace=workspace)
    return appended(base, f"The project's instructions:\n\n{memory}" if memory else None)


def gemini_cli_prompt(workspace: Path, memory: str, sandbox: bool) -> str:
    """Gemini CLI's core prompt with its sandbox and git parts chosen for this workspace, then the workspace facts
    Gemini CLI sends as its first message (getEnvironmentContext), then the project memory after `---`, as
    getCoreSystemPrompt appends it."""
    from sii import prompt_gemini_cli as gemini

    git = (workspace / ".git").exists()
    prompt = (
        gemini.BASE.replace("<<SANDBOX>>", gemini.SANDBOX if sandbox else gemini.OUTSIDE_SANDBOX)
        .replace("<<GIT>>", gemini.GIT_REPOSITORY if git else "")
        .replace("<<COMMIT_OFFER>>", gemini.COMMIT_OFFER if git else "")
        .strip()
    )
    facts = (
        "This is the Gemini CLI. We are setting up the context for our chat.\n"
        f"Today's date is {time.strftime('%A, %B %d, %Y')}.\n"
        f"My operating system is: {sys.platform}\n"
        f"I'm currently working in the directory: {workspace}"
    )
    return f"{prompt}\n\n{facts}" + (f"\n\n---\n\n{memory.strip()}" if memory.strip() else "")
