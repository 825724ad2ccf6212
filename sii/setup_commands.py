"""`sii serve` (start, show or stop a vLLM server sii can use) and `sii config` (the resolved settings and where
each came from): a family like the others (recordings.cli's convention)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from recordings.cli import EXIT_NOTHING, EXIT_OK, SubParsers, reports
from sii.agent_flags import agent_flags, settings_from_args

ERRORS = ("model_server.launcher.ServerError", "model_server.bundled.BundledModelError")


def register(commands: SubParsers) -> None:
    serve = commands.add_parser("serve", help="start (or show, or stop) a vLLM server sii can use")
    serve.add_argument("model_dir", nargs="?", type=Path, help="a Hugging Face model folder (default: bundled)")
    serve.add_argument("--name", help="served model name (default: the folder's name)")
    serve.add_argument("--stop", action="store_true", help="stop the server instead")
    serve.add_argument("--tensor-parallel", type=int, default=1, metavar="N", help="split each layer over N GPUs")
    serve.add_argument("--pipeline-parallel", type=int, default=1, metavar="M", help="M stages of consecutive layers")
    serve.add_argument("--nodes", type=int, default=1, metavar="K", help="over K nodes of a running Ray cluster")
    serve.set_defaults(handler=serve_command)
    config = commands.add_parser(
        "config", parents=[agent_flags(inherited=True)], help="show the resolved settings and where each came from"
    )
    config.set_defaults(handler=config_command)


@reports(None)  # the top level's settings, reported as the top level reports them
def config_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("setting", "value", "from")
    for row in settings_from_args(args).describe():
        table.add_row(*map(Text, row))  # plain text: values from a repository's config are not markup
    Console().print(table)
    return EXIT_OK


@reports("serve", *ERRORS)
def serve_command(args: argparse.Namespace) -> int:
    from model_server.bundled import BUNDLED_MODEL_NAME, ensure_bundled_model
    from model_server.launcher import Parallel, ServerRegistry, list_adapters, stop_server

    places = args.places()
    servers = ServerRegistry(places.home / "server")
    name = args.name or (args.model_dir.name if args.model_dir else BUNDLED_MODEL_NAME)
    if args.stop:
        info = servers.running(name)
        if info is None:
            print(f"no running server named {name}")
            return EXIT_NOTHING
        stop_server(info)
        servers.forget(name)
        print(f"stopped {name} (pid {info.pid})")
        return EXIT_OK
    if args.model_dir and not args.model_dir.is_dir():
        raise ValueError(f"no model folder {args.model_dir}")
    model_dir = args.model_dir.resolve() if args.model_dir else ensure_bundled_model(places.cache)
    parallel = Parallel(args.tensor_parallel, args.pipeline_parallel, args.nodes)
    started = time.monotonic()
    try:
        info, fresh = servers.ensure(
            model_dir,
            name,
            on_wait=lambda s: print(f"\rwaiting for vLLM… {s:.0f}s", end="", file=sys.stderr),
            parallel=parallel,
        )
    except BaseException:
        print(file=sys.stderr)  # end the waiting line, so the error has a line of its own
        raise
    if fresh:
        print(f"\rstarted in {time.monotonic() - started:.0f}s; log: {info.log}", file=sys.stderr)
    print(info.base_url)
    for adapter in list_adapters(info):
        print(f"adapter {adapter} ({info.adapters.get(adapter, '')}) · use: sii --model {adapter}")
    return EXIT_OK
