"""`python -m finetune ...`: the `sii finetune` command without the rest of sii's CLI, for launchers that
start one process per GPU (`torchrun -m finetune`, `accelerate launch -m finetune`)."""

import argparse
import sys

from finetune.commands import register
from recordings.cli import Places


def main(argv: list[str] | None = None) -> int:
    """Where sii keeps its data comes from the environment here (SII_HOME, SII_CACHE, SII_RECORDINGS_DIR): a
    launcher starts this without sii's face, which would read it from sii's settings."""
    parser = argparse.ArgumentParser(prog="python -m finetune")
    parser.set_defaults(places=Places.from_environment)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["finetune", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
