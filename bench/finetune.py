"""Fine-tuning costs on CPU with the bundled model, each beside a baseline measured in the same run.

1. LoRA training at 1k, 2k, 4k, 8k tokens per row: seconds per 1k tokens and peak RSS of sii's trainer
   beside TRL's SFTTrainer on the same rows (pieces of one long synthetic session, split at turn boundaries
   by sii's `fit`), the same assistant-only labels, LoRA settings, optimizer, learning rate and gradient
   checkpointing (sii's default for the length, given to both). Each measurement is a fresh subprocess, so
   its peak RSS is its own; the first step is a warm-up when more than one runs.
   SII_BENCH_FINETUNE_STEPS (default 1) steps per length; SII_BENCH_FINETUNE_LENGTHS (default
   1024,2048,4096,8192); SII_BENCH_FINETUNE_BEFORE=1 adds sii's previous trainer (the model's own loss over
   the whole logits, no default checkpointing) as a third measurement, in the same rows' baseline column.
   SII_BENCH_FINETUNE_LAYERS=N trains the bundled model cut to its first N decoder layers (same vocabulary
   and width, same weights), for a quick run on a loaded machine; the default is all 30.
2. Preparing one 150k-token session (render prefix by prefix with the tool template, mask, split, pack)
   versus the floor: one render of the whole session and one tokenization.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from bench.common import Row, bench_meta, median_time
from bench.recordings import TOOLS, text, write_session
from finetune.data import Example, Renderer, Source, load_tokenizer
from finetune.packing import fit, pack
from model_server.bundled import ensure_bundled_model
from recordings.schema import FunctionCall, ToolCall
from recordings.store import RecordingWriter, read_trajectory
from sii.config import sii_cache

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = [int(n) for n in os.environ.get("SII_BENCH_FINETUNE_LENGTHS", "1024,2048,4096,8192").split(",")]
STEPS = int(os.environ.get("SII_BENCH_FINETUNE_STEPS", "1"))
BEFORE = os.environ.get("SII_BENCH_FINETUNE_BEFORE") == "1"
LAYERS = int(os.environ.get("SII_BENCH_FINETUNE_LAYERS", "0"))


def write_agent_session(path: Path, rng: random.Random, steps: int) -> None:
    """A session of many short tool steps, so that pieces split at any of the lengths come out near it."""
    writer = RecordingWriter(path, redactor=None)
    meta = bench_meta(path.stem, "m")
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


def training_rows(workdir: Path, renderer: Renderer) -> Path:
    """For each length, the first STEPS pieces of one long session split to it: a JSON file the children read."""
    path = workdir / "finetune-long" / "agent.jsonl"
    write_agent_session(path, random.Random(5), 60 * STEPS)
    examples = examples_of(path, renderer)
    data = {}
    for length in LENGTHS:
        pieces = fit(examples, length, "split").examples[:STEPS]
        data[length] = [{"input_ids": p.input_ids, "labels": p.labels} for p in pieces]
    out = workdir / "finetune-rows.json"
    out.write_text(json.dumps(data))
    return out


def bench_model(workdir: Path) -> Path:
    """The bundled model, or its first LAYERS layers saved under the same folder name (so its tool template
    is used)."""
    model_dir = ensure_bundled_model(sii_cache())
    if not LAYERS:
        return model_dir
    import torch
    from transformers import AutoModelForCausalLM

    out = workdir / f"layers-{LAYERS}" / model_dir.name
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, num_hidden_layers=LAYERS)
    model.save_pretrained(out)
    load_tokenizer(model_dir).save_pretrained(out)
    return out


def measure(kind: str, length: int, data: Path, model_dir: Path) -> dict[str, float]:
    """One configuration, in this (fresh) process: seconds per 1k tokens and peak RSS in GB."""
    import torch
    from transformers import TrainingArguments

    from finetune.presets import PRESETS
    from finetune.train import Options, load_model, make_trainer, wants_checkpointing
    from recordings.select import SessionFilter

    torch.manual_seed(0)
    tokenizer = load_tokenizer(model_dir)
    pieces = json.loads(data.read_text())[str(length)]
    hyper = dataclasses.replace(PRESETS["quick"], max_length=length)  # lr 2e-4, LoRA rank 16, alpha 32
    options = Options(
        model_dir, "bench", SessionFilter(), hyper, gradient_checkpointing=None if kind != "before" else False
    )
    checkpointing = wants_checkpointing(options)
    common: dict[str, Any] = {
        "output_dir": str(data.parent / f"out-{kind}-{length}"),
        "per_device_train_batch_size": 1,
        "max_steps": len(pieces),
        "learning_rate": hyper.lr,
        "lr_scheduler_type": "constant",
        "optim": "adamw_torch",
        "weight_decay": 0.0,
        "use_cpu": True,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "seed": 0,
        "gradient_checkpointing": checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "include_num_input_tokens_seen": "all",
        "remove_unused_columns": False,
    }
    timer = StepTimer(len(pieces) > 1)
    if kind == "trl":
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM
        from trl import SFTConfig, SFTTrainer

        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
        peft = LoraConfig(
            r=hyper.lora_rank, lora_alpha=hyper.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        config = SFTConfig(**common, max_length=length, packing=False)
        rows = Dataset.from_list([{"input_ids": p["input_ids"], "labels": p["labels"]} for p in pieces])
        trainer: Any = SFTTrainer(
            model=model,
            args=config,
            train_dataset=rows,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=[timer],
        )
    else:
        from finetune.packing import Row as PackedRow

        rows = [PackedRow([p["input_ids"]], [p["labels"]]) for p in pieces]
        common["gradient_checkpointing"] = False  # load_model applies sii's own policy
        model = load_model(options, gpu=False)
        trainer = make_trainer(model, TrainingArguments(**common), rows, tokenizer.pad_token_id, "padded", [timer])
        if kind == "before":
            trainer.compute_loss_func = None  # the model's own loss over the whole logits
            trainer.data_collator = lambda batch: {k: torch.tensor([batch[0][k][0]]) for k in ("input_ids", "labels")}
    trainer.train()
    return {
        "s_per_1k": 1000 * timer.seconds / timer.tokens,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


class StepTimer(TrainerCallback):
    """Seconds and input tokens of the timed steps (all, or all but the first)."""

    def __init__(self, skip_first: bool) -> None:
        self.skip, self.seconds, self.tokens = skip_first, 0.0, 0
        self._start = (0.0, 0)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = (time.perf_counter(), state.num_input_tokens_seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.skip:
            self.skip = False
            return
        self.seconds += time.perf_counter() - self._start[0]
        self.tokens += state.num_input_tokens_seen - self._start[1]


def measured(kind: str, length: int, data: Path, model_dir: Path) -> dict[str, float]:
    """`measure` in a fresh subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.finetune", kind, str(length), str(data), str(model_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"finetune bench {kind} {length} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    model_dir = ensure_bundled_model(sii_cache())
    tokenizer = load_tokenizer(model_dir)
    renderer = Renderer(tokenizer)
    data = training_rows(workdir, renderer)
    trained_dir = bench_model(workdir)
    layers = f", {LAYERS} layers" if LAYERS else ""
    table = []
    for length in LENGTHS:
        kinds = ["sii", "trl", *(["before"] if BEFORE else [])]
        result = {kind: measured(kind, length, data, trained_dir) for kind in kinds}
        for key, unit in (("s_per_1k", "s per 1k tokens"), ("peak_rss_gb", "peak RSS, GB")):
            for baseline, name in (("trl", "TRL SFTTrainer"), ("before", "sii before (full logits)")):
                if baseline in result:
                    table.append(
                        Row(
                            f"finetune LoRA {length} tokens/row{layers}, {unit}",
                            result["sii"][key],
                            name,
                            result[baseline][key],
                            goal="<= 1.0x",
                        )
                    )

    long_path = workdir / "finetune-long" / "long.jsonl"
    write_session(long_path, random.Random(3), 110, (4500, 5000))  # ~150k tokens, as in the export benchmark
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
        *table,
        Row(
            f"finetune data prep, one {tokens // 1000}k-token session (s)",
            median_time(prepare, max(1, repeats // 2)),
            "one render + tokenize",
            median_time(floor, max(1, repeats // 2)),
            goal="report",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))))
