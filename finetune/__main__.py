"""`python -m finetune ...`: the `sii finetune` command without the rest of sii's CLI, for launchers that
start one process per GPU (`torchrun -m finetune`, `accelerate launch -m finetune`)."""

import argparse
import sys

from finetune.commands import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["finetune", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
