"""`sii recordings view [ID]`: registers the viewer like the other recordings subcommands. Textual is imported
only when the viewer runs, so the rest of the CLI starts without it."""

from __future__ import annotations

import argparse

from recordings.cli import EXIT_OK, SubParsers, reports
from recordings.export import find_sessions


@reports("recordings")
def view_command(args: argparse.Namespace) -> int:
    from recordings.viewer import Viewer

    directory = args.places().recordings
    path = find_sessions(directory, [args.id])[0] if args.id else None  # raises unless exactly one matches
    Viewer(directory, path).run()
    return EXIT_OK


def register(actions: SubParsers) -> None:
    view = actions.add_parser("view", help="browse, label and curate recordings full-screen")
    view.add_argument("id", nargs="?", help="session id or unique prefix to open")
    view.set_defaults(handler=view_command)
