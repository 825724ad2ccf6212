"""One fine-tune over several processes: `sii finetune --nproc-per-node N [--nnodes M --node-rank R --master-addr
HOST --master-port P]` runs torch's elastic launcher (what `torchrun` runs) in this process, with `train()` as
each worker's entry point, so no command line has to be rebuilt for the workers. On several nodes the same
command runs on each, with its own --node-rank.

Strategies (`--strategy`): ddp (a whole copy of the model per process, gradients all-reduced), fsdp (FSDP2
through accelerate: parameters, gradients and optimizer state sharded over the processes), deepspeed (ZeRO-3;
needs `pip install deepspeed`). `auto`: fsdp on GPUs, ddp on CPU, where gloo runs both but sharding a model
that fits one machine's memory only costs time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch.distributed.launcher.api import LaunchConfig

    from finetune.train import Options

STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
SHARDED = ("fsdp", "deepspeed")  # the weights live in pieces: gathered on every rank before saving


class LaunchError(ValueError):
    """The launch flags do not describe a run that can start; the message says which to change."""


@dataclass
class Launch:
    """Where this node's processes sit in the whole job (torchrun's flags)."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int = 29500

    def check(self) -> None:
        if self.nproc_per_node < 1 or self.nnodes < 1:
            raise LaunchError("--nproc-per-node and --nnodes must be at least 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise LaunchError(f"--node-rank must be between 0 and {self.nnodes - 1} (--nnodes {self.nnodes})")
        if self.nnodes > 1 and not self.master_addr:
            raise LaunchError("several nodes need --master-addr: the host of node 0, reachable from every node")
        if not 0 < self.master_port < 65536:
            raise LaunchError("--master-port must be a TCP port (1-65535)")

    def needed(self) -> bool:
        """More than one process, and not already one of the workers (torchrun sets LOCAL_RANK in each)."""
        return self.nproc_per_node * self.nnodes > 1 and "LOCAL_RANK" not in os.environ


def torchrun_args(launch: Launch) -> list[str]:
    """torchrun's flags for this node. One node: a rendezvous on a free local port (as `--standalone`, which
    torch applies only in its own `main`); several: the static rendezvous at node 0's --master-addr."""
    args = ["--nnodes", str(launch.nnodes), "--nproc-per-node", str(launch.nproc_per_node)]
    if launch.nnodes == 1:
        return [*args, "--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:0"]
    return [
        *args,
        "--node-rank",
        str(launch.node_rank),
        "--master-addr",
        str(launch.master_addr),
        "--master-port",
        str(launch.master_port),
    ]


def launch_config(launch: Launch, log_dir: str = os.devnull) -> LaunchConfig:
    """The launcher's configuration, read from the flags by torchrun's own parser. `log_dir`: where the launcher
    keeps its own files; os.devnull, none (torch's default would leave a `torchelastic_*` folder in the system
    temp folder even for a configuration only read)."""
    from torch.distributed.run import config_from_args, parse_args

    config, _, _ = config_from_args(parse_args([*torchrun_args(launch), "--log-dir", log_dir, "-m", "finetune"]))
    return config


def resolve_strategy(strategy: str, gpu: bool) -> str:
    """The strategy to train with; a clear error where its library is missing."""
    if strategy not in STRATEGIES:
        raise LaunchError(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if strategy == "auto":
        return "fsdp" if gpu else "ddp"
    if strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise LaunchError("--strategy deepspeed needs DeepSpeed: `pip install deepspeed` (or use --strategy fsdp)")
    return strategy


def strategy_arguments(strategy: str) -> dict[str, Any]:
    """TrainingArguments for the strategy; the Trainer hands them to accelerate."""
    if strategy == "fsdp":
        config = {
            "version": 2,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",  # one shard group per decoder layer
            "reshard_after_forward": True,
            "state_dict_type": "FULL_STATE_DICT",
        }
        return {"fsdp": True, "fsdp_config": config}
    if strategy == "deepspeed":
        zero = {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True, "overlap_comm": True}
        auto = {key: "auto" for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_clipping")}
        return {"deepspeed": {"zero_optimization": zero, "bf16": {"enabled": "auto"}, **auto}}
    return {"ddp_find_unused_parameters": False}  # every trainable parameter takes part in each step


def full_state_dict(trainer: Any, strategy: str, world_size: int) -> dict[str, Any] | None:
    """The whole model's weights on rank 0 where they are sharded (None elsewhere, and where they are not).
    Every rank must call it: gathering is a collective."""
    if world_size == 1 or strategy not in SHARDED:
        return None
    state: dict[str, Any] = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    return state if trainer.is_world_process_zero() else None


def per_rank_accumulation(grad_accum: int, world_size: int) -> int:
    """Micro-batches each rank accumulates so that an optimizer step sees --grad-accum rows in all, as on one
    process: rows per step = per-rank rows (1) x world size x this."""
    if grad_accum % world_size:
        raise LaunchError(
            f"--grad-accum {grad_accum} (rows per optimizer step) must be a multiple of the {world_size} processes"
        )
    return grad_accum // world_size


def launch_train(launch: Launch, options: Options, home: Path, recordings: Path) -> Path:
    """Run `train` on this node's processes and return the run folder (from local rank 0)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    from finetune.train import TrainError

    launch.check()  # what the workers would refuse, refused before any of them starts
    resolve_strategy(options.strategy, gpu=False)
    per_rank_accumulation(options.hyper.grad_accum, launch.nproc_per_node * launch.nnodes)
    print(f"launching: torchrun {' '.join(torchrun_args(launch))} (strategy {options.strategy})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="sii-torchrun-") as logs:  # the launcher's files, gone with the run
        try:
            results = elastic_launch(launch_config(launch, logs), _worker)(options, home, recordings)
        except ChildFailedError as exc:
            rank, failure = exc.get_first_failure()
            message = failure.message["message"] if isinstance(failure.message, dict) else failure.message
            raise TrainError(f"rank {rank} failed: {message.strip()}") from None
        except SignalException as exc:
            raise KeyboardInterrupt from exc
    return Path(results[0])


def _worker(options: Options, home: Path, recordings: Path) -> str:
    """One process of the job: train, telling progress on global rank 0 only."""
    from finetune.train import train

    return str(train(options, home, recordings, log=_say if os.environ.get("RANK") == "0" else _quiet))


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _quiet(text: str) -> None:
    del text
