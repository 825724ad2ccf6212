"""The recipe, top to bottom: recorded successes -> rendered, masked, packed rows -> LoRA (or full) training
with the transformers Trainer -> a versioned adapter folder with its manifest.

The Trainer (not a hand-written loop) brings the optimizer and schedule, gradient accumulation with the
right loss normalisation, checkpoints with optimizer/scheduler/RNG state for resuming, and, unchanged, the
multi-GPU paths of accelerate (FSDP2, DeepSpeed ZeRO-3). Multi-GPU and multi-node commands: finetune/README.md.

Memory grows linearly with the row length (finetune/README.md, "Memory"): rows need no attention mask
(packing.py), the loss is computed from the last hidden states a chunk at a time so the [tokens x vocabulary]
logits never exist whole, and gradient checkpointing is on by default from CHECKPOINTING_FROM tokens.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from finetune.data import IGNORE, DataError, Renderer, check_tool_support, load_tokenizer, select_sources
from finetune.launch import SHARDED, full_state_dict, per_rank_accumulation, resolve_strategy, strategy_arguments
from finetune.packing import Layout, Row, TooLong, fit, rows_for
from finetune.presets import Hyperparameters
from finetune.progress import MetricsLog, plot_loss, read_metrics
from finetune.runs import CHECKPOINTS, new_run, unfinished_run, write_manifest
from recordings.select import SessionFilter

WEIGHTS = "weights"  # full or merged weights: <run>/weights/<base folder name>
CHECKPOINTING_FROM = 2048  # rows this long recompute activations by default: ~1 MB per token per 30 layers saved
LOSS_CHUNK = 1024  # trained positions per piece of the vocabulary projection


class TrainError(RuntimeError):
    """Training cannot go on; the message says what to change."""


@dataclass
class Options:
    model_dir: Path
    name: str
    session_filter: SessionFilter
    hyper: Hyperparameters
    too_long: TooLong = "split"
    full: bool = False  # all weights instead of a LoRA adapter
    merge: bool = False  # also write the base with the adapter merged in
    resume: bool = False
    chat_template: Path | None = None
    gradient_checkpointing: bool | None = None  # None: on from CHECKPOINTING_FROM tokens per row
    strategy: str = "auto"  # with several processes: finetune/launch.py


@dataclass
class Prepared:
    """The packed training rows and what went into them."""

    rows: list[Row]
    sources: list[dict[str, Any]]  # session, context, sha256 of each sample
    stats: dict[str, int]


def prepare(options: Options, recordings: Path, tokenizer: Any, layout: Layout = "padded") -> Prepared:
    """Select, render with the model's own template, mask, fit to the length and pack."""
    sources = select_sources(recordings, options.session_filter)
    if any(s.data.get("tools") for s in sources):
        check_tool_support(tokenizer)
    renderer = Renderer(tokenizer)
    examples = [example for source in sources for example in renderer.examples(source)]
    fitted = fit(examples, options.hyper.max_length, options.too_long)
    if not fitted.examples:
        raise DataError(
            f"every example is longer than --max-length {options.hyper.max_length}; raise it or --too-long split"
        )
    rows = rows_for(fitted.examples, options.hyper.max_length, layout)
    tokens = sum(row.tokens() for row in rows)
    stats = {
        "contexts": len(sources),
        "sessions": len({s.session_id for s in sources}),
        "examples": len(fitted.examples),
        "rows": len(rows),
        "tokens": tokens,
        "trained_tokens": sum(example.trained_tokens() for example in fitted.examples),
        "dropped": fitted.dropped,
        "dropped_trained_tokens": fitted.dropped_trained_tokens,
        "padding_tokens": sum(row.processed(layout) for row in rows) - tokens,
    }
    listed = [{"session_id": s.session_id, "context": s.context, "sha256": s.sha256} for s in sources]
    return Prepared(rows, listed, stats)


def attention_layout(gpu: bool) -> Layout:
    """Packed rows where flash attention's variable-length kernel can keep examples apart, padded ones elsewhere."""
    return "varlen" if gpu and importlib.util.find_spec("flash_attn") is not None else "padded"


def load_model(options: Options, gpu: bool, layout: Layout = "padded") -> Any:
    """The base with a LoRA adapter on every linear layer (or all weights trainable with --full), gradient
    checkpointing on where `wants_checkpointing` says."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if gpu and not options.full else torch.float32
    attention = "flash_attention_2" if layout == "varlen" else "sdpa"
    model = AutoModelForCausalLM.from_pretrained(options.model_dir, dtype=dtype, attn_implementation=attention)
    model.config.use_cache = False  # with a cache, transformers ignores packed position_ids: cross-example attention
    if wants_checkpointing(options):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if options.full:
        return model
    from peft import LoraConfig, get_peft_model

    hyper = options.hyper
    config = LoraConfig(
        r=hyper.lora_rank,
        lora_alpha=hyper.lora_alpha,
        lora_dropout=hyper.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    if wants_checkpointing(options):
        model.enable_input_require_grads()  # the frozen embeddings' output must carry grad through the recompute
    return get_peft_model(model, config)


def collate(rows: list[dict[str, list[list[int]]]], pad_id: int, layout: Layout = "padded") -> dict[str, Any]:
    """A step's inputs from one row (the Trainer's batch of 1): its examples back to back with restarting
    `position_ids` ("varlen"), or one per line, right-padded ("padded": no mask needed, pads follow every real
    token). The model returns only hidden states; `chunked_loss` projects them to the vocabulary."""
    import torch

    (row,) = rows
    if layout == "varlen":
        inputs = {
            "input_ids": torch.tensor([[t for ids in row["input_ids"] for t in ids]]),
            "labels": torch.tensor([[t for labels in row["labels"] for t in labels]]),
            "position_ids": torch.tensor([[p for ids in row["input_ids"] for p in range(len(ids))]]),
        }
    else:
        width = max(len(ids) for ids in row["input_ids"])
        inputs = {
            "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in row["input_ids"]]),
            "labels": torch.tensor([labels + [IGNORE] * (width - len(labels)) for labels in row["labels"]]),
        }
    return {**inputs, "logits_to_keep": torch.empty(0, dtype=torch.long), "output_hidden_states": True}


def chunked_loss(hidden: Any, labels: Any, head: Any, num_items_in_batch: Any = None) -> Any:
    """Mean next-token cross entropy over the trained positions only, projected to the vocabulary LOSS_CHUNK
    positions at a time and recomputed in backward: the whole logits (8k tokens x 49k vocabulary is 1.6 GB in
    float32, and their gradient as much again) never exist. `num_items_in_batch`: the Trainer's count of trained
    tokens over the accumulated steps (and devices), so accumulation weighs every token alike."""
    from torch.utils.checkpoint import checkpoint

    targets = labels[:, 1:]
    keep = targets != IGNORE
    states, targets = hidden[:, :-1][keep], targets[keep]
    total = states[:0].float().sum()  # zero, inside the graph even for a row with nothing trained
    for start in range(0, len(targets), LOSS_CHUNK):
        piece = slice(start, start + LOSS_CHUNK)
        total = total + checkpoint(_piece_loss, states[piece], targets[piece], head, use_reentrant=False)
    return total / (num_items_in_batch if num_items_in_batch is not None else keep.sum())


def _piece_loss(states: Any, targets: Any, head: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(head(states).float(), targets, reduction="sum")


def wants_checkpointing(options: Options) -> bool:
    if options.gradient_checkpointing is None:
        return options.hyper.max_length >= CHECKPOINTING_FROM
    return options.gradient_checkpointing


def make_trainer(model: Any, args: Any, rows: list[Row], pad_id: int, layout: Layout, callbacks: list) -> Any:
    """The Trainer on `rows`, one per step, with the chunked loss (also what bench/finetune.py measures)."""
    from transformers import Trainer

    head = model.get_output_embeddings()
    return Trainer(
        model=model,
        args=args,
        train_dataset=[asdict(row) for row in rows],
        data_collator=lambda batch: collate(batch, pad_id, layout),
        compute_loss_func=lambda outputs, labels, num_items_in_batch=None: chunked_loss(
            outputs.hidden_states[-1], labels, head, num_items_in_batch
        ),
        callbacks=callbacks,
    )


def run_folder(options: Options, home: Path) -> Path:
    """A new version (or the interrupted one with --resume), chosen by the main process and sent to the others."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    chosen: list[Path | None] = [None]
    if PartialState().is_main_process:
        chosen[0] = unfinished_run(home, options.name) if options.resume else new_run(home, options.name)
    return Path(broadcast_object_list(chosen)[0])


def check_plan(run: Path, prepared: Prepared, resume: bool) -> None:
    """Resuming is only sound on the same data: the samples are noted at the start and compared on resume."""
    plan = run / "plan.json"
    if resume and plan.exists() and json.loads(plan.read_text()) != prepared.sources:
        raise TrainError(f"the selected recordings changed since {run.name} started; start a new run instead")
    plan.write_text(json.dumps(prepared.sources))


def train(options: Options, home: Path, recordings: Path, log: Any = print) -> Path:
    """Fine-tune and return the run folder (adapter or weights, manifest.json, metrics.jsonl, loss.png)."""
    import torch
    from accelerate import PartialState
    from transformers import AutoConfig, TrainingArguments, set_seed

    gpu = torch.cuda.is_available()
    state = PartialState(cpu=not gpu)  # the distributed init: NCCL between GPUs, gloo between CPU processes
    world, main = state.num_processes, state.is_main_process

    # 1. Data: each sample rendered as the model saw it, only its own tokens trained.
    layout = attention_layout(gpu)
    tokenizer = load_tokenizer(options.model_dir, options.chat_template)
    prepared = prepare(options, recordings, tokenizer, layout)
    stats, hyper = prepared.stats, options.hyper
    log(
        f"{stats['sessions']} sessions, {stats['contexts']} samples -> {stats['examples']} examples in "
        f"{stats['rows']} rows of ≤{hyper.max_length} tokens: {stats['tokens']:,} tokens, "
        f"{stats['trained_tokens']:,} trained per epoch ({stats['dropped']} too long, dropped)"
    )

    # 2. Where it goes, and the model: the base with a LoRA adapter on every linear layer, or all weights.
    run = run_folder(options, home)
    strategy = resolve_strategy(options.strategy, gpu) if world > 1 else "single"
    if options.merge and strategy in SHARDED:
        raise TrainError(f"--merge needs the whole model on one process; not with --strategy {strategy}")
    if main:  # the other ranks neither read nor write it
        check_plan(run, prepared, options.resume)
    set_seed(0)  # the LoRA initialisation: the same on every rank and in every run
    model = load_model(options, gpu, layout)

    # 3. Training: one row per step and device, cosine to min_lr, checkpoints to resume from.
    args = TrainingArguments(
        output_dir=str(run / CHECKPOINTS),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=per_rank_accumulation(hyper.grad_accum, world),
        num_train_epochs=hyper.epochs,
        max_steps=hyper.max_steps,
        learning_rate=hyper.lr,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": hyper.min_lr},
        warmup_steps=hyper.warmup,
        weight_decay=hyper.weight_decay,
        adam_beta1=hyper.betas[0],
        adam_beta2=hyper.betas[1],
        optim="adamw_torch",
        bf16=gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not gpu,
        logging_steps=1,
        save_steps=hyper.save_steps,
        save_total_limit=2,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        report_to=[],
        seed=0,
        **(strategy_arguments(strategy) if world > 1 else {}),
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    callbacks = [MetricsLog(run / "metrics.jsonl")] if main else []  # one writer of the metrics
    trainer = make_trainer(model, args, prepared.rows, pad_id, layout, callbacks)
    started = time.monotonic()
    try:
        result = trainer.train(resume_from_checkpoint=options.resume or None)
    except torch.OutOfMemoryError as exc:
        raise TrainError(_OOM_ADVICE.format(max_length=hyper.max_length)) from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc):
            raise TrainError(_OOM_ADVICE.format(max_length=hyper.max_length)) from exc
        raise
    weights_state = full_state_dict(trainer, strategy, world)  # gathered by every rank where they are sharded
    if not main:
        return run

    # 4. Output: the adapter (and merged weights), the loss curve, the manifest; checkpoints are done with.
    model = trainer.model
    if not options.full:
        model.save_pretrained(run, state_dict=weights_state)
    if options.full or options.merge:
        weights = run / WEIGHTS / options.model_dir.name  # the base's folder name: the launcher's same flags
        dtype = AutoConfig.from_pretrained(options.model_dir).dtype  # trained in float32 on CPU; saved as the base
        cast = None if weights_state is None else {key: value.to(dtype) for key, value in weights_state.items()}
        (model if options.full else model.merge_and_unload()).to(dtype).save_pretrained(weights, state_dict=cast)
        tokenizer.save_pretrained(weights)  # with the template the model was trained on
    metrics = read_metrics(run / "metrics.jsonl")
    if metrics:
        plot_loss(metrics, run / "loss.png")
    shutil.rmtree(run / CHECKPOINTS, ignore_errors=True)
    distributed = {"world_size": world, "strategy": strategy}
    write_manifest(run, {**manifest(options, prepared, metrics, result, time.monotonic() - started), **distributed})
    return run


_OOM_ADVICE = (
    "out of memory at --max-length {max_length}: lower --max-length (long samples are split at turn "
    "boundaries with --too-long split), add --gradient-checkpointing, use LoRA instead of --full, or spread "
    "the model over GPUs (finetune/README.md)"
)


def manifest(options: Options, prepared: Prepared, metrics: list[dict], result: Any, seconds: float) -> dict:
    losses = [m["loss"] for m in metrics]
    speeds = [m["tokens_per_s"] for m in metrics if "tokens_per_s" in m]
    return {
        "base_model": str(options.model_dir),
        "method": "full" if options.full else "lora",
        "merged": options.merge or options.full,
        "weights": f"{WEIGHTS}/{options.model_dir.name}" if options.merge or options.full else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "data": {
            "filter": asdict(options.session_filter),
            "too_long": options.too_long,
            **prepared.stats,
            "samples": prepared.sources,
        },
        "hyperparameters": asdict(options.hyper),
        "metrics": {
            "steps": result.global_step,
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            "train_loss": result.training_loss,
            "tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
            "seconds": round(seconds, 1),
        },
    }
