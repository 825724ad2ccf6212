"""One LoRA and one full training step of a Qwen3-style model on one CUDA GPU: tokens/s and MFU.

`python -m bench.gpu_step [--size 4b] [--seq 4096] [--steps 3]` builds the model from its config with random
weights (transformers' Qwen3Config: nothing is downloaded), warms up one step per method, times `--steps`
more, and prints one line per method. Without a CUDA GPU it says so and exits with 2.

MFU = achieved model FLOP/s / the GPU's peak dense bf16 FLOP/s (H100/H200 SXM: 989 TFLOP/s; `--peak-tflops`
for others). Model FLOPs per token (PaLM's appendix B; recomputation by gradient checkpointing not counted):
  full: 6 N + 12 L H Q T      (forward 2 N, backward 4 N: gradients of activations and of weights)
  LoRA: 4 N + 6 N_lora + 12 L H Q T   (frozen weights: no weight gradients, 2 N fewer)
N: parameters of the matrix multiplies (the decoder's linear layers and the LM head; not the embedding
lookup), L layers, H query heads, Q head dimension, T sequence length (12 L H Q T: attention scores and
their weighted sum, forward and backward, counted without the causal half, as PaLM does).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

# Qwen3's published dense shapes (config.json of Qwen/Qwen3-1.7B, -4B, -8B).
SIZES: dict[str, dict[str, Any]] = {
    "1.7b": {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28, "num_attention_heads": 16},
    "4b": {"hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36, "num_attention_heads": 32},
    "8b": {"hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36, "num_attention_heads": 32},
}
TIED = {"1.7b": True, "4b": True, "8b": False}
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}  # dense bf16, SXM parts


def qwen3_config(size: str) -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(
        **SIZES[size],
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
        max_position_embeddings=40960,
        tie_word_embeddings=TIED[size],
        use_cache=False,
    )


def matmul_params(config: Any) -> int:
    """N: weights that take part in a matrix multiply per token (attention and MLP projections, LM head)."""
    hidden, heads, kv, head_dim = (
        config.hidden_size,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
    )
    attention = hidden * head_dim * (2 * heads + 2 * kv)  # q and o: heads; k and v: kv heads
    mlp = 3 * hidden * config.intermediate_size  # gate, up, down
    return config.num_hidden_layers * (attention + mlp) + hidden * config.vocab_size


def flops_per_token(config: Any, seq: int, lora_params: int = 0) -> float:
    """Model FLOPs of one trained token (module docstring): full when `lora_params` is 0, else LoRA."""
    n = matmul_params(config)
    attention = 12 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * seq
    return (6 * n if not lora_params else 4 * n + 6 * lora_params) + attention


@dataclass
class Result:
    method: str
    tokens_per_s: float
    tflops: float
    mfu: float | None
    peak_gib: float


def peak_tflops(name: str, given: float | None) -> float | None:
    if given:
        return given
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def step(size: str, method: str, seq: int, steps: int, peak: float | None, checkpointing: bool) -> Result:
    """Warm up one step, then time `steps` optimizer steps of batch 1 x `seq` random tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    config = qwen3_config(size)
    torch.cuda.empty_cache()  # the previous method's model is gone with its call
    torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    lora_params = 0
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
        lora_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if method == "lora":
            model.enable_input_require_grads()
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5, fused=True)  # states in bf16, as the weights
    ids = torch.randint(0, config.vocab_size, (1, seq), device="cuda")

    def one() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    one()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        one()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens_per_s = steps * seq / seconds
    tflops = tokens_per_s * flops_per_token(config, seq, lora_params) / 1e12
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    return Result(method, tokens_per_s, tflops, tflops / peak if peak else None, peak_gib)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="4b", help="Qwen3 dense shape")
    parser.add_argument("--seq", type=int, default=4096, help="tokens per step (batch 1)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per method, after one warm-up step")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: known GPUs)")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="for --size 8b at long --seq")
    parser.add_argument("--methods", nargs="+", choices=["lora", "full"], default=["lora", "full"])
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_step: no CUDA GPU here (torch.cuda.is_available() is False); run it on a machine with one")
        return 2
    name = torch.cuda.get_device_name()
    peak = peak_tflops(name, args.peak_tflops)
    config = qwen3_config(args.size)
    print(
        f"{name}, Qwen3-{args.size} shape (N = {matmul_params(config) / 1e9:.2f}B matmul parameters), "
        f"seq {args.seq}, peak {peak or '?'} TFLOP/s bf16 dense"
    )
    for method in args.methods:
        result = step(args.size, method, args.seq, args.steps, peak, args.gradient_checkpointing)
        mfu = f"{result.mfu:.1%}" if result.mfu is not None else "n/a (pass --peak-tflops)"
        print(
            f"{method:>4}: {result.tokens_per_s:,.0f} tokens/s, {result.tflops:.0f} TFLOP/s, MFU {mfu}, "
            f"peak memory {result.peak_gib:.1f} GiB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
