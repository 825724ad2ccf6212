"""`sii recordings list | show | stats | validate | label`, and the `recordings` family itself: `register` adds
the `recordings` parser and the actions of ACTION_MODULES (export, import, view), each a `handler(args) -> exit
code` (recordings.cli) that finds the recordings folder in `args.places()`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from recordings.cli import EXIT_NOTHING, EXIT_OK, SubParsers, register_all, reports
from recordings.export import find_sessions
from recordings.records import OUTCOMES
from recordings.select import SessionFilter, session_filters
from recordings.store import RecordingWriter, SessionSummary, list_sessions, read_trajectory
from recordings.validate import file_problems

PIPED_WIDTH = 1000
# The modules whose `register(actions)` add `recordings` actions, after this one's.
ACTION_MODULES = ("recordings.export_commands", "recordings.viewer_commands")

# rich and matplotlib are imported inside the handlers: `sii --help` registers these parsers and stays fast.


def selected(args: argparse.Namespace) -> list[SessionSummary]:
    chosen = SessionFilter.from_args(args)
    return [s for s in list_sessions(args.places().recordings) if chosen.matches(s)]


@reports("recordings")
def list_command(args: argparse.Namespace) -> int:
    """A table for people; `--json` one JSON array of every summary field, full ids, for scripts."""
    sessions = selected(args)
    if args.json:
        print(json.dumps([summary_json(s) for s in sessions], indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Column, Table

    id_column = Column("id", no_wrap=True, min_width=max((len(s.session_id) for s in sessions), default=2))
    table = Table(id_column, "started", "model", "messages", "tokens", "outcome", "first prompt")
    for s in sessions:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at))
        table.add_row(
            s.session_id, started, s.model, str(s.messages), f"{s.tokens:,}", s.outcome or "-", s.first_prompt[:50]
        )
    # Piped, the table is as wide as it needs: a script gets whole ids, not a guess at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
    console.print(table)
    return EXIT_OK


def summary_json(summary: SessionSummary) -> dict:
    return {**dataclasses.asdict(summary), "path": str(summary.path)}


@reports("recordings")
def show_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from recordings.transcript import render_transcript

    (path,) = find_sessions(args.places().recordings, [args.id])
    render_transcript(read_trajectory(path), Console(), full=args.full)
    return EXIT_OK


@reports("recordings")
def stats_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from recordings.stats import save_png, summarize, text_histogram

    sessions = selected(args)
    summary = summarize(sessions)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        console = Console()
        console.print(
            f"{summary['sessions']} sessions · {summary['tokens_total']:,} tokens · mean {summary['tokens_mean']:,.0f}"
            f" · median {summary['tokens_median']:,.0f} · max {summary['tokens_max']:,}",
            highlight=False,
        )
        console.print("labels: " + ", ".join(f"{k} {v}" for k, v in summary["by_label"].items()), highlight=False)
        console.print("models: " + ", ".join(f"{k} {v}" for k, v in summary["by_model"].items()), highlight=False)
        console.print(text_histogram([s.tokens for s in sessions]), highlight=False)
    if args.png:
        save_png([s.tokens for s in sessions], args.png)
        print(f"histogram written to {args.png}", file=sys.stderr)
    return EXIT_OK


@reports("recordings")
def validate_command(args: argparse.Namespace) -> int:
    invalid = 0
    for path in find_sessions(args.places().recordings, args.ids):
        try:
            found = file_problems(path)
        except (ValueError, OSError) as exc:
            found = [str(exc)]
        invalid += bool(found)
        for problem in found:
            print(f"{path.stem}: {problem}")
    print(f"{invalid} invalid session(s)" if invalid else "all sessions are valid", file=sys.stderr)
    return EXIT_NOTHING if invalid else EXIT_OK


@reports("recordings")
def label_command(args: argparse.Namespace) -> int:
    (path,) = find_sessions(args.places().recordings, [args.id])
    writer = RecordingWriter(path)
    writer.label(args.outcome, args.note)
    writer.close()
    return EXIT_OK


def register(commands: SubParsers) -> None:
    recordings = commands.add_parser("recordings", help="list or export recorded sessions")
    actions = recordings.add_subparsers(dest="action", metavar="ACTION", required=True)
    register_actions(actions)
    register_all(actions, ACTION_MODULES)


def register_actions(actions: SubParsers) -> None:
    listing = actions.add_parser("list", parents=[session_filters()], help="recorded sessions, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON array of the sessions, every field")
    listing.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="a session as a readable transcript")
    show.add_argument("id", help="session id or unique prefix")
    show.add_argument("--full", action="store_true", help="do not fold long outputs")
    show.set_defaults(handler=show_command)
    stats = actions.add_parser("stats", parents=[session_filters()], help="counts and the token-length distribution")
    stats.add_argument("--png", type=Path, help="also draw the histogram into this PNG file")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=stats_command)
    validate = actions.add_parser("validate", help="check sessions are well-formed training data")
    validate.add_argument("ids", nargs="*", help="session ids or unique prefixes (default: all)")
    validate.set_defaults(handler=validate_command)
    label = actions.add_parser("label", help="label a session for training, and/or add a note")
    label.add_argument("id", help="session id or unique prefix")
    label.add_argument("outcome", nargs="?", choices=OUTCOMES)
    label.add_argument("--note", help="an annotator's note")
    label.set_defaults(handler=label_command)
