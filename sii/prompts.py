"""The system prompt: short, because small local models follow short instructions best, plus the project's
own instructions (AGENTS.md, and SII.md / CLAUDE.md when present), as Codex CLI and Claude Code read them."""

from pathlib import Path

from tools.text import clip

SYSTEM_PROMPT = """You are sii, a coding agent working in the user's repository at {workspace}.
Use the tools to inspect and change files, run commands and check git. Read before you edit, make the
smallest change that solves the task, run the relevant command to check it, then answer briefly with what
you did. Paths are relative to the repository root."""
MEMORY_FILES = ("AGENTS.md", "SII.md", "CLAUDE.md")
MAX_MEMORY_CHARS = 20_000


def project_memory(workspace: Path) -> str:
    """The project's instruction files, each under its name; capped so a huge file cannot eat the window."""
    sections = []
    for name in MEMORY_FILES:
        path = workspace / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if len(text) > MAX_MEMORY_CHARS:
                text = clip(text, MAX_MEMORY_CHARS) + f"\n[... {name} truncated at {MAX_MEMORY_CHARS} characters]"
            sections.append(f"# {name}\n{text}")
    return "\n\n".join(sections)


def system_prompt(workspace: Path) -> str:
    memory = project_memory(workspace)
    base = SYSTEM_PROMPT.format(workspace=workspace)
    return f"{base}\n\nThe project's instructions:\n\n{memory}" if memory else base
