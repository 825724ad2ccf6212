"""Fine-tuning costs on CPU with the bundled model, each beside a baseline measured in the same run.

1. Training throughput (seconds per 1k real tokens) of LoRA steps on packed rows of 1k tokens versus
   the plain baseline: batches of 2 examples padded to their longest, over about the same real tokens.
2. Padding waste of both layouts (share of pad tokens in what the model processed).
3. Preparing one 150k-token session (render prefix by prefix with the tool template, mask, split, pack)
   versus the floor: one render of the whole session and one tokenization.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bench.common import Row, median_time
from bench.recordings import TOOLS, text, write_session
from finetune.data import Example, Renderer, Source, load_tokenizer
from finetune.packing import Row as PackedRow
from finetune.packing import fit, pack, unpacked
from finetune.train import collate
from model_server.bundled import ensure_bundled_model
from recordings.schema import FunctionCall, SessionMeta, ToolCall
from recordings.store import RecordingWriter, read_trajectory
from sii.config import sii_cache

MAX_LENGTH = 1024
BATCH = 2  # about a packed row's tokens per step


def write_short_session(path: Path, rng: random.Random, steps: int) -> None:
    writer = RecordingWriter(path, redactor=None)
    meta = SessionMeta(
        session_id=path.stem,
        sii_version="bench",
        face="headless",
        model="m",
        base_url="http://x/v1",
        sampling={},
        workspace="/w",
        started_at=1.0,
        outcome="success",
    )
    writer.session(meta, TOOLS[:1], sync=False)
    writer.message(message={"role": "system", "content": "You are sii, a coding agent."})
    writer.message(message={"role": "user", "content": text(rng, 150)})
    for step in range(steps):
        function: FunctionCall = {"name": "read_file", "arguments": {"arg": "a.py"}}
        call: ToolCall = {"id": f"c{step}", "type": "function", "function": function}
        writer.message(message={"role": "assistant", "content": text(rng, 80), "tool_calls": [call]})
        writer.message(message={"role": "tool", "tool_call_id": f"c{step}", "content": text(rng, 600)})
    writer.message(message={"role": "assistant", "content": text(rng, 200)})
    writer.close()


def examples_of(path: Path, renderer: Renderer) -> list[Example]:
    (sample,) = read_trajectory(path).samples()
    return renderer.examples(Source(path.stem, 0, sample, ""))


def train_steps(model: Any, batches: list[list[PackedRow]], pad_id: int) -> tuple[float, int, int]:
    """Seconds, real tokens and processed tokens of one LoRA step per batch."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    real = processed = 0
    started = time.perf_counter()
    for batch in batches:
        inputs = collate(
            [{"input_ids": r.input_ids, "labels": r.labels, "position_ids": r.position_ids} for r in batch], pad_id
        )
        real += sum(len(r.input_ids) for r in batch)
        processed += inputs["input_ids"].numel()
        model(**inputs, use_cache=False).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started, real, processed


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    """`steps` caps the packed rows trained (at most 2: on two CPU cores a LoRA step of 1k tokens takes ~30 s)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model_dir = ensure_bundled_model(sii_cache())
    tokenizer = load_tokenizer(model_dir)
    renderer = Renderer(tokenizer)
    rng = random.Random(3)
    folder = workdir / "finetune-recordings"
    for index in range(16):  # 150 to 800 tokens: 0 to 3 tool steps with small outputs
        write_short_session(folder / f"f{index:02d}.jsonl", rng, rng.randrange(0, 4))
    examples = fit([e for p in sorted(folder.glob("*.jsonl")) for e in examples_of(p, renderer)], MAX_LENGTH, "drop")
    packed = [[row] for row in pack(examples.examples, MAX_LENGTH)]
    plain = unpacked(examples.examples)
    padded = [plain[i : i + BATCH] for i in range(0, len(plain), BATCH)]
    limit = max(1, min(steps, 2))
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    pad_id = tokenizer.pad_token_id or 0
    # Both layouts see the same tokens: as many padded batches as it takes to cover the packed rows' tokens.
    packed_batches = packed[:limit]
    wanted = sum(len(r.input_ids) for b in packed_batches for r in b)
    covered, padded_batches = 0, []
    for batch in padded:
        if covered >= wanted:
            break
        padded_batches.append(batch)
        covered += sum(len(r.input_ids) for r in batch)
    packed_s, packed_real, packed_all = train_steps(model, packed_batches, pad_id)
    padded_s, padded_real, padded_all = train_steps(model, padded_batches, pad_id)

    long_path = workdir / "finetune-long" / "long.jsonl"
    write_session(long_path, rng, 110, (4500, 5000))  # ~150k tokens, as in the export benchmark
    (sample,) = read_trajectory(long_path).samples()
    tokens = len(
        tokenizer(tokenizer.apply_chat_template(sample["messages"], tools=sample["tools"], tokenize=False))["input_ids"]
    )

    def prepare() -> None:
        pack(fit(renderer.examples(Source("long", 0, sample, "")), 32768, "split").examples, 32768)

    def floor() -> None:
        text = tokenizer.apply_chat_template(sample["messages"], tools=sample["tools"], tokenize=False)
        tokenizer(text, add_special_tokens=False)

    return [
        Row(
            f"finetune LoRA step, s per 1k real tokens ({len(packed_batches)} packed rows of ≤{MAX_LENGTH})",
            1000 * packed_s / packed_real,
            f"padded batches of {BATCH}",
            1000 * padded_s / padded_real,
        ),
        Row(
            "finetune padding waste (% of processed tokens)",
            100 * (1 - packed_real / packed_all),
            "padded batches",
            100 * (1 - padded_real / padded_all),
        ),
        Row(
            f"finetune data prep, one {tokens // 1000}k-token session (s)",
            median_time(prepare, max(1, repeats // 2)),
            "one render + tokenize",
            median_time(floor, max(1, repeats // 2)),
            goal="report",
        ),
    ]
