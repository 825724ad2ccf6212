"""`sii recordings list | label | export`: each subcommand registers its parser and a handler
`handler(args, directory) -> exit code`, so other modules can add theirs the same way."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from recordings.export import find_sessions, samples, write_jsonl
from recordings.store import OUTCOMES, RecordingWriter, list_sessions, write_label


def list_command(args: argparse.Namespace, directory: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "started", "model", "messages", "outcome", "first prompt")
    for s in list_sessions(directory):
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at))
        table.add_row(s.session_id, started, s.model, str(s.messages), s.outcome or "-", s.first_prompt[:50])
    Console().print(table)
    return 0


def label_command(args: argparse.Namespace, directory: Path) -> int:
    (path,) = find_sessions(directory, [args.id])
    writer = RecordingWriter(path)
    write_label(writer, args.outcome, args.note)
    writer.close()
    return 0


def export_command(args: argparse.Namespace, directory: Path) -> int:
    write_jsonl(samples(find_sessions(directory, args.ids)), sys.stdout)
    return 0


def register(actions: argparse._SubParsersAction) -> None:
    actions.add_parser("list", help="recorded sessions, newest first").set_defaults(handler=list_command)
    label = actions.add_parser("label", help="label a session for training, and/or add a note")
    label.add_argument("id", help="session id or unique prefix")
    label.add_argument("outcome", nargs="?", choices=OUTCOMES)
    label.add_argument("--note", help="an annotator's note")
    label.set_defaults(handler=label_command)
    export = actions.add_parser("export", help="write training samples as JSONL to stdout")
    export.add_argument("ids", nargs="*", help="session ids or unique prefixes (default: all)")
    export.set_defaults(handler=export_command)
