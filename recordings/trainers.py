"""Training samples in the exact shapes trainers read: slime/LIMI Parquet (nested `tools` and `messages`
columns, as LIMI's `scripts/data_prepare/messages_json2parquet_128k.py` writes them with pandas), a Hugging Face
`datasets` folder with a dataset card and a TRL recipe, and LLaMA-Factory's ShareGPT with the
`dataset_info.json` entry that names its columns and tags."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recordings.formats import parse_arguments
from recordings.schema import Message

DATASET_INFO = "dataset_info.json"
TRL_RECIPE = "train_trl.py"


def trainer_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as chat templates read them: arguments an object (text that never parsed becomes `{}`, as LIMI's
    `fix_tool_calls` does) and reasoning under `reasoning_content` (the key Qwen3, GLM-4.5 and DeepSeek templates
    render as thinking)."""
    shaped = []
    for message in messages:
        rendered: dict[str, Any] = dict(message)
        if "reasoning" in rendered:
            rendered["reasoning_content"] = rendered.pop("reasoning")
        if message.get("tool_calls"):
            rendered["tool_calls"] = [
                {**call, "function": {**call["function"], "arguments": _object(call["function"]["arguments"])}}
                for call in message.get("tool_calls", [])
            ]
        shaped.append(rendered)
    return shaped


def _object(arguments: Any) -> dict[str, Any]:
    parsed = parse_arguments(arguments)
    return parsed if isinstance(parsed, dict) else {}


class ArgumentTypes:
    """LIMI's argument-type check: the first value seen for an argument name (over every tool, in export order)
    fixes its Python type; a later sample that passes another type under that name is dropped, because Arrow
    stores all arguments as one struct and one field cannot hold two types. As in LIMI, a dropped sample's
    other new names still count."""

    def __init__(self) -> None:
        self.seen: dict[str, type] = {}

    def agree(self, messages: Iterable[dict[str, Any]]) -> bool:
        agree = True
        for message in messages:
            for call in message.get("tool_calls") or []:
                for key, value in call["function"]["arguments"].items():
                    if self.seen.setdefault(key, type(value)) is not type(value):
                        agree = False
        return agree


def write_slime(rows: list[dict[str, Any]], out: Path, duplicate_times: int) -> None:
    """`rows` (each `{"tools", "messages"}`) repeated `duplicate_times` times, written the way LIMI writes them:
    a pandas DataFrame's `to_parquet`, so slime's `--input-key messages --tool-key tools` read them as they
    read LIMI's released data."""
    try:
        import pandas as pd
        import pyarrow as pa
    except ImportError as exc:
        raise ValueError("slime export needs pandas and pyarrow (pip install 'sii[data]')") from exc
    frame = pd.DataFrame(rows * duplicate_times, columns=["tools", "messages"])
    try:
        frame.to_parquet(out)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"Arrow cannot store these samples as nested columns ({exc}); export jsonl instead") from exc


def write_hf(rows: list[dict[str, Any]], out: Path, card: str) -> None:
    """A `datasets` folder (`save_to_disk`): messages and tools as JSON features, so every message keeps its
    own keys (no struct that merges every tool's arguments), with the card as README.md and the TRL recipe."""
    try:
        from datasets import Dataset, Features, Json, List, Value, disable_progress_bars
    except ImportError as exc:
        raise ValueError("--format hf needs the datasets package (pip install 'sii[data]')") from exc
    if out.exists() and any(out.iterdir()) and not (out / "dataset_info.json").exists():
        raise ValueError(f"{out} is a folder that holds something other than a dataset; name a new one")
    features = Features(
        {
            "messages": List(Json()),
            "tools": List(Json()),
            "session_id": Value("string"),
            "context": Value("int64"),
            "model": Value("string"),
            "label": Value("string"),
        }
    )
    columns = {name: [row[name] for row in rows] for name in features}
    disable_progress_bars()  # the export prints its own summary
    Dataset.from_dict(columns, features=features).save_to_disk(str(out))
    (out / "README.md").write_text(card, encoding="utf-8")
    (out / TRL_RECIPE).write_text(_trl_recipe(), encoding="utf-8")


def _trl_recipe() -> str:
    return '''"""Fine-tune on this folder with TRL: python train_trl.py MODEL [OUTPUT_DIR]
Written by `sii recordings export --format hf`. Needs: pip install trl datasets"""

import sys
from pathlib import Path

import torch
from datasets import load_from_disk
from trl import SFTConfig, SFTTrainer

model = sys.argv[1]
dataset = load_from_disk(str(Path(__file__).parent)).select_columns(["messages", "tools"])
gpu = torch.cuda.is_available()  # TRL trains in bf16 by default, which needs a GPU
config = SFTConfig(output_dir=sys.argv[2] if len(sys.argv) > 2 else "sft-out", bf16=gpu, use_cpu=not gpu)
SFTTrainer(model=model, train_dataset=dataset, args=config).train()
'''


def dataset_card(manifest: dict[str, Any], tokens: list[int], measured: bool) -> str:
    """README.md of an hf export: what is in it (counts, token lengths, labels, models, sources), what was left
    out and why, and what redaction did."""
    counts, entries = manifest["counts"], manifest["samples"]
    labels: dict[str, int] = {}
    for entry in entries:
        labels[entry["label"] or "unlabelled"] = labels.get(entry["label"] or "unlabelled", 0) + 1
    how = "measured with the export's tokenizer" if measured else "estimated as JSON characters / 4"
    stats = (
        f"min {min(tokens)}, median {statistics.median(tokens):.0f}, mean {statistics.fmean(tokens):.0f}, "
        f"max {max(tokens)}, total {sum(tokens)}"
        if tokens
        else "no samples"
    )
    redacted = counts.get("redacted_kinds") or {}
    redaction = (
        ", ".join(f"{kind} {count}" for kind, count in sorted(redacted.items()))
        if redacted
        else ("none found" if manifest["filters"]["redact"] else "off (--no-redact): secrets may remain")
    )
    left_out = {key: value for key, value in counts.items() if key not in ("written", "redacted", "redacted_kinds")}
    lines = [
        "---",
        "tags: [sii, agent-trajectories, tool-calling]",
        "---",
        "# sii recordings",
        "",
        f"Exported by sii {manifest['sii_version']} at {manifest['created_at']}: {counts['written']} samples "
        f"from {counts['sessions']} sessions. Each row is one context window of a session: `messages` (OpenAI "
        "chat messages, tool-call arguments as objects, reasoning as `reasoning_content`) and `tools`.",
        "",
        "Load it with `datasets.load_from_disk(...)`; `train_trl.py` beside this card fine-tunes on it with TRL.",
        "",
        f"- Tokens per sample ({how}): {stats}",
        "- Labels: " + (", ".join(f"{label} {count}" for label, count in sorted(labels.items())) or "none"),
        f"- Redaction: {counts['redacted']} secrets replaced by `[REDACTED:<kind>]` ({redaction})",
        "- Selection: " + json.dumps(manifest["filters"], ensure_ascii=False),
        "- Left out or changed: " + ", ".join(f"{key} {value}" for key, value in left_out.items()),
        "",
    ]
    return "\n".join(lines)


def llamafactory_ready(messages: list[Message]) -> list[Message]:
    """Messages LLaMA-Factory's ShareGPT converter accepts: it wants user (or observation) and assistant turns
    to alternate and the sample to end with the assistant. A compacted context starts with the summary and the
    next prompt, two user turns: they are merged into one (nothing the model saw is dropped); so are two
    assistant replies in a row, a system message after the first (as user text), and what follows the last
    assistant message is cut (there is nothing to learn from it)."""
    merged: list[Message] = []
    for index, message in enumerate(messages):
        if message["role"] == "system" and index:
            message = {"role": "user", "content": message["content"]}
        last = merged[-1] if merged else None
        if last is not None and last["role"] == message["role"] == "user":
            merged[-1] = {**last, "content": "\n\n".join(filter(None, [last["content"], message["content"]]))}
        elif last is not None and last["role"] == message["role"] == "assistant" and not last.get("tool_calls"):
            reasoning = "\n\n".join(filter(None, [last.get("reasoning"), message.get("reasoning")]))
            content = "\n\n".join(filter(None, [last["content"], message["content"]]))
            joined: Message = {**message, "content": content or message["content"]}
            if reasoning:
                joined["reasoning"] = reasoning
            merged[-1] = joined
        else:
            merged.append(message)
    ends = [i for i, message in enumerate(merged) if message["role"] == "assistant"]
    return merged[: ends[-1] + 1] if ends else merged


def write_dataset_info(out: Path) -> Path:
    """Add (or replace) the entry for the ShareGPT file `out` in `dataset_info.json` beside it, keeping the
    entries already there; the dataset's name is the file's stem."""
    info_path = out.with_name(DATASET_INFO)
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        info = {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{info_path} exists but is not readable JSON ({exc}); not overwriting it") from exc
    if not isinstance(info, dict):
        raise ValueError(f"{info_path} is not a JSON object; not overwriting it")
    info[out.stem] = {
        "file_name": out.name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "observation_tag": "observation",
            "function_tag": "function_call",
            "system_tag": "system",
        },
    }
    info_path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return info_path
