"""The `sii` command: the REPL by default, `-p` for headless runs, plus the command families of FAMILIES."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from recordings.cli import EXIT_CODES, Places, register_all, reports
from sii import __version__
from sii.agent_flags import agent_flags, settings_from_args
from sii.config import Settings
from sii.quick_exit import skip_collection_at_exit

skip_collection_at_exit()
# Every command, by name: the module whose `register(commands)` adds it (recordings.cli's convention), in the order
# of `sii --help`. A module is imported only for a command line that names one of its commands (or asks for help):
# `sii -p` and the REPL need none, and they cost ~0.1 s of start-up. A new family is one line here.
FAMILIES = {
    "serve": "sii.setup_commands",
    "config": "sii.setup_commands",
    "eval": "sii.eval.commands",
    "tasks": "sii.tasks.commands",
    "annotate": "sii.tasks.commands",
    "finetune": "finetune.commands",
    "recordings": "recordings.commands",
}
ERRORS = (
    "sii.transport.ModelError",
    "sii.session.SessionError",
    "model_server.endpoint.EndpointError",
)  # the agent's, beside ValueError and OSError


def build_parser(placeholders: bool = False) -> argparse.ArgumentParser:
    """The whole command line; with `placeholders`, the FAMILIES take any arguments unparsed, so telling which
    command a line names imports none of their modules."""
    parser = argparse.ArgumentParser(
        prog="sii",
        parents=[agent_flags()],
        description="A terminal coding agent that records every session as training data. "
        "With no server configured it starts the bundled model on vLLM (CPU).",
        epilog="exit codes of -p: 0 done, 1 model server error, 2 sii could not start, 3 step limit, "
        f"4 actions were refused (approval needed), 130 Ctrl-C; {EXIT_CODES}",
    )
    parser.set_defaults(handler=run_agent, places=resolve_places)
    parser.add_argument("--version", action="version", version=f"sii {__version__}")
    parser.add_argument(
        "-p", "--prompt", help="run one task headless and print the final answer (`-p -`: the task from stdin)"
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    if placeholders:
        for name in FAMILIES:
            commands.add_parser(name, add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
        return parser
    register_all(commands, dict.fromkeys(FAMILIES.values()))
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line parsed; the families' modules are imported only when it names one, or for help."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not {"-h", "--help"} & set(arguments):
        placeholders = build_parser(placeholders=True)
        # Known args only: a placeholder takes no options of its own (`annotate --yolo`), the full parse does.
        if placeholders.parse_known_args(arguments)[0].command not in FAMILIES:
            return placeholders.parse_args(arguments)  # strict: a stray option is an error
    return build_parser().parse_args(arguments)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return args.handler(args)


def resolve_places() -> Places:
    """Where sii keeps its data, from the settings: what the families below sii get as `args.places()`."""
    settings = Settings.resolve()
    return Places(settings.home, settings.cache, settings.recordings)


@reports(None, *ERRORS)
def run_agent(args: argparse.Namespace) -> int:
    """The REPL, or with -p one headless task."""
    settings = settings_from_args(args)
    resume = _session_to_resume(settings, args.continue_, args.resume)
    if args.prompt is not None:
        from sii.headless import run_headless

        return run_headless(settings, args.prompt, args.output_format, resume, args.fork)
    from sii.repl import run_repl

    return run_repl(settings, resume, args.fork)


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
