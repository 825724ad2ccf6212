"""`sii recordings list | show | stats | validate | label`: each subcommand registers its parser and a handler
`handler(args, directory) -> exit code`, so other modules can add theirs the same way."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from recordings.export import find_sessions
from recordings.records import OUTCOMES
from recordings.select import SessionFilter, add_filter_arguments
from recordings.store import RecordingWriter, SessionSummary, list_sessions, read_trajectory
from recordings.validate import file_problems

PIPED_WIDTH = 1000

# rich and matplotlib are imported inside the handlers: `sii --help` registers these parsers and stays fast.


def selected(args: argparse.Namespace, directory: Path) -> list[SessionSummary]:
    chosen = SessionFilter.from_args(args)
    return [s for s in list_sessions(directory) if chosen.matches(s)]


def list_command(args: argparse.Namespace, directory: Path) -> int:
    """A table for people; `--json` one JSON array of every summary field, full ids, for scripts."""
    sessions = selected(args, directory)
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
    return 0


def summary_json(summary: SessionSummary) -> dict:
    return {**dataclasses.asdict(summary), "path": str(summary.path)}


def show_command(args: argparse.Namespace, directory: Path) -> int:
    from rich.console import Console

    from recordings.transcript import render_transcript

    (path,) = find_sessions(directory, [args.id])
    render_transcript(read_trajectory(path), Console(), full=args.full)
    return 0


def stats_command(args: argparse.Namespace, directory: Path) -> int:
    from rich.console import Console

    from recordings.stats import save_png, summarize, text_histogram

    sessions = selected(args, directory)
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
    return 0


def validate_command(args: argparse.Namespace, directory: Path) -> int:
    invalid = 0
    for path in find_sessions(directory, args.ids):
        try:
            found = file_problems(path)
        except (ValueError, OSError) as exc:
            found = [str(exc)]
        invalid += bool(found)
        for problem in found:
            print(f"{path.stem}: {problem}")
    print(f"{invalid} invalid session(s)" if invalid else "all sessions are valid", file=sys.stderr)
    return 1 if invalid else 0


def label_command(args: argparse.Namespace, directory: Path) -> int:
    (path,) = find_sessions(directory, [args.id])
    writer = RecordingWriter(path)
    writer.label(args.outcome, args.note)
    writer.close()
    return 0


def register(actions: argparse._SubParsersAction) -> None:
    listing = actions.add_parser("list", help="recorded sessions, newest first")
    add_filter_arguments(listing)
    listing.add_argument("--json", action="store_true", help="one JSON array of the sessions, every field")
    listing.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="a session as a readable transcript")
    show.add_argument("id", help="session id or unique prefix")
    show.add_argument("--full", action="store_true", help="do not fold long outputs")
    show.set_defaults(handler=show_command)
    stats = actions.add_parser("stats", help="counts and the token-length distribution")
    add_filter_arguments(stats)
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
