"""Fine-tuning on several processes: two CPU processes (gloo) train as one process does with the same global
batch and seed, write one adapter and manifest from rank 0, and the torchrun flags for several nodes are what
torch's own launcher reads."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune.__main__ import main as finetune_main
from finetune.launch import Launch, LaunchError, launch_config, per_rank_accumulation, resolve_strategy, torchrun_args
from finetune.runs import read_manifest
from tests.test_finetune import write_session

ROOT = Path(__file__).resolve().parent.parent
# Two sessions: 4 rows of one example each, 2 rows per optimizer step, 3 steps: the third starts epoch 2.
ARGS = ["--out", "t", "--max-length", "256", "--max-steps", "3", "--grad-accum", "2", "--lr", "1e-3"]


def finetune(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SII_HOME": str(home), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "finetune", *ARGS, *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: Path) -> dict[str, Path]:
    """The same recordings trained by one process and by two with each strategy gloo runs on CPU (auto: ddp):
    "single" | "auto" | "fsdp" -> SII_HOME."""
    homes = {}
    for strategy in ("single", "auto", "fsdp"):
        home = homes[strategy] = tmp_path_factory.mktemp(strategy)
        for number in range(2):
            write_session(home / "recordings", f"ok{number}", number, "success")
        launch = [] if strategy == "single" else ["--nproc-per-node", "2", "--strategy", strategy]
        result = finetune(home, *launch)
        assert result.returncode == 0, result.stderr[-3000:]
    return homes


def run_of(homes: dict[str, Path], strategy: str) -> Path:
    return homes[strategy] / "finetune" / "t-v1"


@pytest.mark.parametrize(("strategy", "named"), [("auto", "ddp"), ("fsdp", "fsdp")])
def test_two_gloo_processes_follow_the_one_process_loss_curve(
    homes: dict[str, Path], strategy: str, named: str
) -> None:
    one, two = run_of(homes, "single"), run_of(homes, strategy)
    assert len(losses(one)) == 3 and losses(two) == pytest.approx(losses(one), rel=1e-4)
    assert losses(two)[-1] < losses(two)[0]  # and it trains
    manifest = read_manifest(two)
    assert manifest["world_size"] == 2 and manifest["strategy"] == named and manifest["metrics"]["steps"] == 3
    assert read_manifest(one)["world_size"] == 1 and read_manifest(one)["strategy"] == "single"


@pytest.mark.parametrize("strategy", ["auto", "fsdp"])
def test_rank_zero_alone_writes_the_adapter_the_one_process_run_writes(homes: dict[str, Path], strategy: str) -> None:
    from safetensors.torch import load_file

    one, two = run_of(homes, "single"), run_of(homes, strategy)
    assert [p.name for p in two.parent.iterdir()] == ["t-v1"]  # one run folder, not one per rank
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 3  # one line per step, not per rank
    # FSDP2 gathers its shards for rank 0; both strategies end where one process ends.
    mine, reference = (load_file(run / "adapter_model.safetensors") for run in (two, one))
    assert mine.keys() == reference.keys() and len(mine) > 100
    assert all(torch_close(mine[key], reference[key]) for key in mine)


def torch_close(a: Any, b: Any) -> bool:
    import torch

    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-6))


def test_multi_node_flags_are_what_torchrun_reads() -> None:
    launch = Launch(nproc_per_node=8, nnodes=2, node_rank=1, master_addr="10.0.0.5", master_port=29511)
    assert torchrun_args(launch) == [
        "--nnodes",
        "2",
        "--nproc-per-node",
        "8",
        "--node-rank",
        "1",
        "--master-addr",
        "10.0.0.5",
        "--master-port",
        "29511",
    ]
    config = launch_config(launch)
    assert (config.min_nodes, config.max_nodes, config.nproc_per_node) == (2, 2, 8)
    assert config.rdzv_backend == "static" and config.rdzv_endpoint == "10.0.0.5:29511"
    assert config.rdzv_configs["rank"] == 1
    local = launch_config(Launch(nproc_per_node=2))
    assert local.rdzv_backend == "c10d" and local.rdzv_endpoint == "localhost:0"  # a free port, no clash


@pytest.mark.parametrize(
    ("launch", "error"),
    [
        (Launch(nproc_per_node=8, nnodes=2), "--master-addr"),
        (Launch(nnodes=2, node_rank=2, master_addr="h"), "--node-rank must be between 0 and 1"),
        (Launch(nnodes=2, node_rank=-1, master_addr="h"), "--node-rank"),
        (Launch(nproc_per_node=0), "at least 1"),
        (Launch(nnodes=2, master_addr="h", master_port=70000), "--master-port"),
    ],
)
def test_launch_flags_that_cannot_start_are_refused(launch: Launch, error: str) -> None:
    with pytest.raises(LaunchError, match=error):
        launch.check()


def test_global_batch_and_strategy_choices() -> None:
    assert per_rank_accumulation(8, 2) == 4 and per_rank_accumulation(2, 2) == 1
    with pytest.raises(LaunchError, match="multiple of the 4 processes"):
        per_rank_accumulation(2, 4)
    assert resolve_strategy("auto", gpu=True) == "fsdp" and resolve_strategy("auto", gpu=False) == "ddp"
    with pytest.raises(LaunchError, match="one of"):
        resolve_strategy("zero9", gpu=True)


def test_deepspeed_missing_is_a_clear_error(sii_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    assert finetune_main(["--nproc-per-node", "2", "--strategy", "deepspeed"]) == 2
    assert "--strategy deepspeed needs DeepSpeed: `pip install deepspeed`" in capsys.readouterr().err


def test_a_global_batch_that_does_not_divide_is_refused_before_launching(
    sii_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert finetune_main(["--nproc-per-node", "2", "--grad-accum", "3"]) == 2
    assert "--grad-accum 3 (rows per optimizer step) must be a multiple of the 2 processes" in capsys.readouterr().err
