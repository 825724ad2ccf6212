"""`sii finetune`: train the model on recorded sessions (successes by default) and optionally serve the
result. `register` adds the parser to sii's command line; the handler returns the exit code
(0 done, 2 bad input or training failed, 130 Ctrl-C: `--resume` continues from the last checkpoint)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from finetune.presets import DEFAULT_PRESET, PRESETS
from recordings.select import SessionFilter, add_filter_arguments

OVERRIDES = {  # flag dest -> Hyperparameters field
    "lr": "lr",
    "epochs": "epochs",
    "max_steps": "max_steps",
    "max_length": "max_length",
    "lora_rank": "lora_rank",
    "lora_alpha": "lora_alpha",
    "grad_accum": "grad_accum",
    "save_steps": "save_steps",
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "finetune",
        help="fine-tune the model on recorded sessions (LoRA by default) and serve the result",
        description="Fine-tune on recorded sessions (label success by default): a LoRA adapter, or all weights "
        "with --full, in $SII_HOME/finetune/NAME-vN. Multi-GPU launch: finetune/README.md.",
    )
    add_filter_arguments(parser)
    parser.set_defaults(label="success", handler=run_command)
    parser.add_argument("--model-dir", type=Path, help="Hugging Face folder of the base model (default: bundled)")
    parser.add_argument("--chat-template", type=Path, help="Jinja template to render with (default: the model's)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET, help="hyperparameter set")
    parser.add_argument("--lora-rank", type=int, help="LoRA rank")
    parser.add_argument("--lora-alpha", type=int, help="LoRA alpha")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--epochs", type=float, help="passes over the data")
    parser.add_argument("--max-steps", type=int, help="stop after N optimizer steps (overrides --epochs)")
    parser.add_argument("--max-length", type=int, help="tokens per packed row; longer samples follow --too-long")
    parser.add_argument("--too-long", choices=["drop", "split"], default="split", help="for samples over the length")
    parser.add_argument("--grad-accum", type=int, help="rows per optimizer step")
    parser.add_argument("--save-steps", type=int, help="checkpoint every N steps")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="less memory, ~30%% slower")
    parser.add_argument("--full", action="store_true", help="train all weights instead of a LoRA adapter")
    parser.add_argument("--merge", action="store_true", help="also write (and with --publish serve) merged weights")
    parser.add_argument("--out", metavar="NAME", help="run name: $SII_HOME/finetune/NAME-vN (default: <model>-sii)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run of this name")
    parser.add_argument("--publish", action="store_true", help="load the result into the running vLLM server")
    actions = parser.add_subparsers(dest="finetune_action", metavar="ACTION")  # none: train
    actions.add_parser("list", help="the fine-tune runs, newest first").set_defaults(handler=list_command)
    serve = actions.add_parser("publish", help="serve a finished run in the running vLLM, without retraining")
    serve.add_argument("run", help="a run (NAME-vN), a name (its newest finished version) or a run folder")
    serve.add_argument("--merge", action="store_true", help="serve the run's merged weights instead of its adapter")
    serve.set_defaults(handler=publish_command)


def run_command(args: argparse.Namespace) -> int:
    from finetune.data import DataError
    from finetune.publish import publish
    from finetune.train import Options, TrainError, train
    from model_server.bundled import BundledModelError, ensure_bundled_model
    from model_server.launcher import ServerError, ServerRegistry
    from sii.config import Settings

    settings = Settings.resolve()
    hyper = dataclasses.replace(
        PRESETS[args.preset],
        **{field: getattr(args, dest) for dest, field in OVERRIDES.items() if getattr(args, dest) is not None},
    )

    def say(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        model_dir = args.model_dir.resolve() if args.model_dir else ensure_bundled_model(settings.cache)
        options = Options(
            model_dir=model_dir,
            name=args.out or f"{model_dir.name}-sii",
            session_filter=SessionFilter.from_args(args),
            hyper=hyper,
            too_long=args.too_long,
            full=args.full,
            merge=args.merge,
            resume=args.resume,
            chat_template=args.chat_template,
            gradient_checkpointing=args.gradient_checkpointing,
        )
        run = train(options, settings.home, settings.recordings, log=say)
        say(f"saved {run}")
        if args.publish:
            publish(run, ServerRegistry(settings.home / "server"), say, merged=args.merge)
    except (DataError, TrainError, BundledModelError, ServerError, ValueError) as exc:
        print(f"sii finetune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("interrupted; `sii finetune --resume` (same --out) continues from the last checkpoint")
        return 130
    return 0


def list_command(args: argparse.Namespace) -> int:
    """One line per run: name, state, base model, method, samples, steps, loss, and where it is served."""
    from finetune.runs import list_runs
    from model_server.launcher import ServerRegistry
    from sii.config import Settings

    settings = Settings.resolve()
    servers = ServerRegistry(settings.home / "server")
    runs = list_runs(settings.home)
    if not runs:
        print(f"no fine-tune runs in {settings.home / 'finetune'}")
        return 0
    for run in runs:
        if run.manifest is None:
            print(f"{run.name}  {run.problem or 'unfinished (`sii finetune --out NAME --resume` continues it)'}")
            continue
        metrics, data = run.manifest.get("metrics", {}), run.manifest.get("data", {})
        loss = metrics.get("final_loss")
        served = run.name in servers.published(run.base)[1]
        print(
            f"{run.name}  {run.manifest.get('created', '?')}  {run.base}  {run.manifest.get('method', '?')}  "
            f"{data.get('sessions', '?')} sessions  {metrics.get('steps', '?')} steps  "
            f"loss {loss if loss is None else f'{loss:.3f}'}{'  published' if served else ''}"
        )
    return 0


def publish_command(args: argparse.Namespace) -> int:
    """`sii finetune publish RUN`: load a finished run into the running server of its base model."""
    import httpx

    from finetune.publish import publish
    from finetune.runs import find_run
    from model_server.launcher import ServerError, ServerRegistry
    from sii.config import Settings

    settings = Settings.resolve()
    try:
        run = find_run(settings.home, args.run)
        publish(run, ServerRegistry(settings.home / "server"), lambda text: print(text, file=sys.stderr), args.merge)
    except (ServerError, ValueError, httpx.HTTPError) as exc:  # HTTPError: a server too slow to answer
        print(f"sii finetune: error: {exc}", file=sys.stderr)
        return 2
    return 0
