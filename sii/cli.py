"""The `sii` command: the REPL by default, `-p` for headless runs, plus `serve` and `recordings`."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sii import __version__
from sii.approval import MODES
from sii.config import Settings
from sii.quick_exit import skip_collection_at_exit

skip_collection_at_exit()
# The modules that register the other commands, by command. They are imported only for a command line that names
# one of them (or asks for help): `sii -p` and the REPL need none, and they cost ~0.1 s of start-up.
COMMAND_MODULES = {
    "eval": "sii.eval.commands",
    "tasks": "sii.tasks.commands",
    "annotate": "sii.tasks.commands",
    "finetune": "finetune.commands",
}
RECORDINGS_COMMANDS = ["recordings.commands", "recordings.export_commands", "recordings.viewer_commands"]
LAZY_COMMANDS = (*COMMAND_MODULES, "recordings")


def build_parser(placeholders: bool = False) -> argparse.ArgumentParser:
    """The whole command line; with `placeholders`, the LAZY_COMMANDS take any arguments unparsed, so telling
    which command a line names imports none of their modules."""
    parser = argparse.ArgumentParser(
        prog="sii",
        description="A terminal coding agent that records every session as training data. "
        "With no server configured it starts the bundled model on vLLM (CPU).",
        epilog="exit codes of -p: 0 done, 1 model server error, 2 sii could not start, 3 step limit, "
        "4 actions were refused (approval needed), 130 Ctrl-C",
    )
    parser.add_argument("--version", action="version", version=f"sii {__version__}")
    parser.add_argument(
        "-p", "--prompt", help="run one task headless and print the final answer (`-p -`: the task from stdin)"
    )
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://host:8000/v1 (env SII_BASE_URL)")
    parser.add_argument("--model", help="served model name (env SII_MODEL; default: the server's first model)")
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
    parser.add_argument("--append-system-prompt", metavar="TEXT", help="add TEXT to the end of the system prompt")
    parser.add_argument(
        "--trust-project-mcp",
        action="store_true",
        help="start the MCP servers of this repository's .sii/config.toml for this run, without asking",
    )
    parser.add_argument(
        "--output-format",
        choices=["text", "json", "stream-json"],
        default="text",
        help="with -p: the answer as text, one JSON result, or every event as a JSON line",
    )
    parser.add_argument(
        "-c", "--continue", dest="continue_", action="store_true", help="continue the last session here"
    )
    parser.add_argument("-r", "--resume", metavar="ID", help="continue a recorded session (id or unique prefix)")
    parser.add_argument(
        "--fork", action="store_true", help="with --continue/--resume: go on in a new recording (parent: the old)"
    )
    parser.add_argument("-C", "--workspace", type=Path, help="work in this directory (default: the current one)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start (or show, or stop) a vLLM server sii can use")
    serve.add_argument("model_dir", nargs="?", type=Path, help="a Hugging Face model folder (default: bundled)")
    serve.add_argument("--name", help="served model name (default: the folder's name)")
    serve.add_argument("--stop", action="store_true", help="stop the server instead")

    commands.add_parser("config", help="show the resolved settings and where each came from")
    if placeholders:
        for name in LAZY_COMMANDS:
            commands.add_parser(name, add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
        return parser
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(module).register(commands)
    recordings = commands.add_parser("recordings", help="list or export recorded sessions")
    actions = recordings.add_subparsers(dest="action", metavar="ACTION", required=True)
    for module in RECORDINGS_COMMANDS:
        importlib.import_module(module).register(actions)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line parsed; the other commands' modules are imported only when it names one, or for help."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not {"-h", "--help"} & set(arguments):
        # parse_known_args: a placeholder's REMAINDER does not take options that come first (`finetune --out x`)
        args, unknown = build_parser(placeholders=True).parse_known_args(arguments)
        if args.command not in LAZY_COMMANDS and not unknown:
            return args
    return build_parser().parse_args(arguments)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from sii.client import ModelError
    from sii.session import SessionError

    try:
        if args.command in ("eval", "tasks", "annotate", "finetune"):
            return args.handler(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "recordings":
            return _recordings(args)
        mode = "yolo" if args.yolo else args.mode
        settings = Settings.resolve(args.base_url, args.model, args.workspace, args.max_steps, mode)
        settings.sandbox = settings.sandbox or args.sandbox
        settings._apply(  # flags set a value outright, as each later layer does
            {
                "tools.allowed": args.allowed_tools,
                "tools.disallowed": args.disallowed_tools,
                "system_prompt_append": args.append_system_prompt,
            },
            "flag",
        )
        if args.trust_project_mcp:
            settings.admit_project_servers()
        if args.command == "config":
            return _config(settings)
        resume = _session_to_resume(settings, args.continue_, args.resume)
        if args.prompt is not None:
            from sii.headless import run_headless

            return run_headless(settings, args.prompt, args.output_format, resume, args.fork)
        from sii.repl import run_repl

        return run_repl(settings, resume, args.fork)
    except (ModelError, SessionError, ValueError) as exc:
        print(f"sii: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _session_to_resume(settings: Settings, last: bool, session_id: str | None) -> Path | None:
    directory = settings.recordings
    if session_id:
        from recordings.export import find_sessions  # with the exporters (zstandard...): only to resume

        (path,) = find_sessions(directory, [session_id])
        return path
    if last:
        from recordings.store import list_sessions

        workspace = str(settings.workspace.resolve())
        mine = [s for s in list_sessions(directory) if s.workspace == workspace]
        if not mine:
            raise ValueError(f"no earlier session in {workspace} to continue")
        return mine[0].path
    return None


def _config(settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("setting", "value", "from")
    for row in settings.describe():
        table.add_row(*map(Text, row))  # plain text: values from a repository's config are not markup
    Console().print(table)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from model_server.bundled import BUNDLED_MODEL_NAME, ensure_bundled_model
    from model_server.launcher import ServerRegistry, list_adapters, stop_server

    settings = Settings.resolve()
    servers = ServerRegistry(settings.home / "server")
    name = args.name or (args.model_dir.name if args.model_dir else BUNDLED_MODEL_NAME)
    if args.stop:
        info = servers.running(name)
        if info is None:
            print(f"no running server named {name}")
            return 1
        stop_server(info)
        servers.forget(name)
        print(f"stopped {name} (pid {info.pid})")
        return 0
    model_dir = args.model_dir.resolve() if args.model_dir else ensure_bundled_model(settings.cache)
    started = time.monotonic()
    info, fresh = servers.ensure(
        model_dir, name, on_wait=lambda s: print(f"\rwaiting for vLLM… {s:.0f}s", end="", file=sys.stderr)
    )
    if fresh:
        print(f"\rstarted in {time.monotonic() - started:.0f}s; log: {info.log}", file=sys.stderr)
    print(info.base_url)
    for adapter in list_adapters(info):
        print(f"adapter {adapter} ({info.adapters.get(adapter, '')}) · use: sii --model {adapter}")
    return 0


def _recordings(args: argparse.Namespace) -> int:
    return args.handler(args, Settings.resolve().recordings)
