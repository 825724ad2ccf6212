"""`sii finetune`: train the model on recorded sessions (successes by default) and optionally serve the
result. `register` adds the parser to sii's command line; the handler (recordings.cli's convention) returns the
exit code (0 done, 2 bad input or training failed, 130 Ctrl-C: `--resume` continues from the last checkpoint).
Where sii keeps its data comes in as `args.places()`: resolved by the `sii` face, or from the environment for
`python -m finetune`; nothing here imports sii."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from finetune.launch import STRATEGIES, Launch
from finetune.presets import DEFAULT_PRESET, PRESETS
from recordings.cli import EXIT_OK, SubParsers, reports
from recordings.select import SessionFilter, session_filters

ERRORS = (  # what a user can fix, or a run that failed, beside ValueError and OSError
    "finetune.train.TrainError",
    "model_server.bundled.BundledModelError",
    "model_server.launcher.ServerError",
)

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


def register(commands: SubParsers) -> None:
    parser = commands.add_parser(
        "finetune",
        parents=[session_filters(label="success")],
        help="fine-tune the model on recorded sessions (LoRA by default) and serve the result",
        description="Fine-tune on recorded sessions (label success by default): a LoRA adapter, or all weights "
        "with --full, in $SII_HOME/finetune/NAME-vN. Multi-GPU launch: finetune/README.md.",
    )
    parser.set_defaults(handler=run_command)
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
    parser.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        help="recompute activations: less memory, ~30%% slower (default: on from 2048 tokens per row)",
    )
    parser.add_argument("--full", action="store_true", help="train all weights instead of a LoRA adapter")
    parser.add_argument("--merge", action="store_true", help="also write (and with --publish serve) merged weights")
    parser.add_argument("--out", metavar="NAME", help="run name: $SII_HOME/finetune/NAME-vN (default: <model>-sii)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run of this name")
    parser.add_argument("--publish", action="store_true", help="load the result into the running vLLM server")
    several = parser.add_argument_group("several processes (torchrun's flags; finetune/README.md)")
    several.add_argument("--nproc-per-node", type=int, default=1, help="processes on this node (one per GPU)")
    several.add_argument("--nnodes", type=int, default=1, help="nodes in the job; each runs this command")
    several.add_argument("--node-rank", type=int, default=0, help="this node's number, 0 to --nnodes - 1")
    several.add_argument("--master-addr", metavar="HOST", help="node 0's address, with several nodes")
    several.add_argument("--master-port", type=int, default=29500, help="node 0's rendezvous port")
    several.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="ddp, fsdp (FSDP2), deepspeed (ZeRO-3); auto: fsdp on GPUs, ddp on CPU",
    )
    actions = parser.add_subparsers(dest="finetune_action", metavar="ACTION")  # none: train
    actions.add_parser("list", help="the fine-tune runs, newest first").set_defaults(handler=list_command)
    serve = actions.add_parser("publish", help="serve a finished run in the running vLLM, without retraining")
    serve.add_argument("run", help="a run (NAME-vN), a name (its newest finished version) or a run folder")
    serve.add_argument("--merge", action="store_true", help="serve the run's merged weights instead of its adapter")
    serve.set_defaults(handler=publish_command)


@reports("finetune", *ERRORS, interrupted="`sii finetune --resume` (same --out) continues from the last checkpoint")
def run_command(args: argparse.Namespace) -> int:
    from finetune.launch import launch_train
    from finetune.publish import publish
    from finetune.train import Options, train
    from model_server.bundled import ensure_bundled_model
    from model_server.launcher import ServerRegistry

    places = args.places()
    hyper = dataclasses.replace(
        PRESETS[args.preset],
        **{field: getattr(args, dest) for dest, field in OVERRIDES.items() if getattr(args, dest) is not None},
    )

    def say(text: str) -> None:
        print(text, file=sys.stderr)

    model_dir = args.model_dir.resolve() if args.model_dir else ensure_bundled_model(places.cache)
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
        strategy=args.strategy,
    )
    launch = Launch(args.nproc_per_node, args.nnodes, args.node_rank, args.master_addr, args.master_port)
    if launch.needed():
        run = launch_train(launch, options, places.home, places.recordings)
    else:
        run = train(options, places.home, places.recordings, log=say)
    say(f"saved {run}")
    if args.publish:
        publish(run, ServerRegistry(places.home / "server"), say, merged=args.merge)
    return EXIT_OK


@reports("finetune", *ERRORS)
def list_command(args: argparse.Namespace) -> int:
    """One line per run: name, state, base model, method, samples, steps, loss, and where it is served."""
    from finetune.runs import list_runs
    from model_server.launcher import ServerRegistry

    home = args.places().home
    servers = ServerRegistry(home / "server")
    runs = list_runs(home)
    if not runs:
        print(f"no fine-tune runs in {home / 'finetune'}")
        return EXIT_OK
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
    return EXIT_OK


@reports("finetune", *ERRORS, "httpx.HTTPError")  # HTTPError: a server too slow to answer
def publish_command(args: argparse.Namespace) -> int:
    """`sii finetune publish RUN`: load a finished run into the running server of its base model."""
    from finetune.publish import publish
    from finetune.runs import find_run
    from model_server.launcher import ServerRegistry

    home = args.places().home
    run = find_run(home, args.run)
    publish(run, ServerRegistry(home / "server"), lambda text: print(text, file=sys.stderr), args.merge)
    return EXIT_OK
