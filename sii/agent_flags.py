"""The flags of a run of the agent, declared once: the parent parser that the top-level command and every
subcommand that runs the agent (eval, annotate, config...) share, and `settings_from_args`, the one reading of
them into Settings. A new agent flag is one line in `agent_flags` and, where it is a setting, one in
`settings_from_args`."""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path
from typing import Any

from sii.approval import MODES
from sii.config import PROMPT_PROFILES, TOOL_PROFILES, Settings


def server_flags(inherited: bool = False) -> argparse.ArgumentParser:
    """--base-url and --model: the server and model, for commands that talk to a model (`tasks from-git`)."""
    parser = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS if inherited else None)
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://host:8000/v1 (env SII_BASE_URL)")
    parser.add_argument("--model", help="served model name (env SII_MODEL; default: the server's first model)")
    return parser


def agent_flags(inherited: bool = False) -> argparse.ArgumentParser:
    """The agent's flags as a parent parser, a fresh one per command. `inherited`: a subcommand's copy, whose
    flags left out keep the top level's value (argparse would otherwise reset them), so `sii --yolo annotate`
    and `sii annotate --yolo` mean the same."""
    parser = argparse.ArgumentParser(
        add_help=False, parents=[server_flags(inherited)], argument_default=argparse.SUPPRESS if inherited else None
    )
    parser.add_argument("--mode", choices=MODES, help="approval mode (default ask; env SII_MODE)")
    parser.add_argument("--yolo", action="store_true", help="same as --mode yolo: run everything without asking")
    parser.add_argument("--max-steps", "--max-turns", type=int, help="model calls allowed per turn (default 50)")
    parser.add_argument(
        "--sandbox", action="store_true", help="run the shell inside bubblewrap: read-only system, no network"
    )
    parser.add_argument(
        "--allowed-tools",
        action="append",
        metavar="NAMES",
        help="offer the model only these tools (comma- or space-separated; repeatable; MCP: mcp__SERVER__TOOL)",
    )
    parser.add_argument(
        "--disallowed-tools", action="append", metavar="NAMES", help="never offer these tools (as --allowed-tools)"
    )
    parser.add_argument(
        "--tool-profile", choices=TOOL_PROFILES, help="the tool names and schemas offered (sii-cli: SII CLI's)"
    )
    parser.add_argument(
        "--system-prompt-profile", choices=PROMPT_PROFILES, help="the system prompt (default: the tools')"
    )
    parser.add_argument("--append-system-prompt", metavar="TEXT", help="add TEXT to the end of the system prompt")
    parser.add_argument(
        "--trust-project-mcp",
        action="store_true",
        help="start the MCP servers of this repository's .sii/config.toml for this run, without asking",
    )
    parser.add_argument("-C", "--workspace", type=Path, help="work in this directory (default: the current one)")
    return parser


@cache
def defaults() -> dict[str, object]:
    """Each agent flag's value when a command line leaves it out, as the top-level parser has it."""
    return {action.dest: action.default for action in agent_flags()._actions}


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """Each agent flag's value in `args`, its default where the command line (or its parser) left it out."""
    return {**defaults(), **{name: value for name, value in vars(args).items() if name in defaults()}}


def settings_from_args(args: argparse.Namespace, workspace: Path | None = None, mode: str | None = None) -> Settings:
    """The settings the agent flags in `args` make (a flag left out: its default). `workspace` replaces -C (a task's
    own folder); `mode` is the mode when no flag names one (an unattended run's yolo)."""
    flags = flag_values(args)
    chosen = "yolo" if flags["yolo"] else flags["mode"] or mode
    settings = Settings.resolve(
        flags["base_url"], flags["model"], workspace or flags["workspace"], flags["max_steps"], chosen
    )
    settings.sandbox = settings.sandbox or flags["sandbox"]
    settings._apply(  # flags set a value outright, as each later layer does
        {
            "tools.allowed": flags["allowed_tools"],
            "tools.disallowed": flags["disallowed_tools"],
            "system_prompt_append": flags["append_system_prompt"],
            "tool_profile": flags["tool_profile"],
            "system_prompt_profile": flags["system_prompt_profile"],
        },
        "flag",
    )
    if flags["trust_project_mcp"]:
        settings.admit_project_servers()
    return settings
