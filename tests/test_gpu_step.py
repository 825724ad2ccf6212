"""bench/gpu_step.py off a GPU: its FLOPs count matches the model transformers builds from the same config, and
without CUDA it says so and exits 2 instead of failing deep inside torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu_step import SIZES, flops_per_token, matmul_params, qwen3_config

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = {"1.7b": 1.7e9, "4b": 4.0e9, "8b": 8.2e9}  # Qwen/Qwen3-*: total parameters


@pytest.mark.parametrize("size", sorted(SIZES))
def test_matmul_parameters_are_those_of_the_built_model(size: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    config = qwen3_config(size)
    with torch.device("meta"):  # shapes only: no memory, no time
        model = AutoModelForCausalLM.from_config(config)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert matmul_params(config) == linear
    total = sum(p.numel() for p in model.parameters())
    assert total == pytest.approx(PUBLISHED[size], rel=0.03)  # the model cards' parameter counts
    # Full training: 6 N plus attention, which at 4k tokens adds 15-30% for these sizes; LoRA saves the 2 N of
    # weight gradients.
    assert 1.1 < flops_per_token(config, 4096) / (6 * linear) < 1.4
    assert flops_per_token(config, 4096) - flops_per_token(config, 4096, lora_params=1000) == 2 * linear - 6000


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA GPU is here")
def test_without_a_gpu_it_says_so_and_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_step", "--steps", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "gpu_step: no CUDA GPU here" in result.stdout
