"""Export recorded sessions as training samples: LIMI/OpenAI `{"messages", "tools"}` JSONL, Parquet,
LLaMA-Factory ShareGPT (with its dataset_info.json), slime/LIMI nested Parquet or a Hugging Face datasets folder
(see recordings.trainers), filtered as `recordings list` filters (recordings.select) and by sample length,
deduplicated, with a manifest that says
what went in and why the rest did not.

Duplicates: a sample whose canonical JSON (messages + tools, keys sorted) hashes like an earlier one, and a
near-duplicate: the same first user message and the same tool calls (names and arguments, in order) as an
earlier sample, whatever the assistant wrote around them. Sessions are read oldest first, so the oldest
copy is kept.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from recordings.formats import canonical_json, to_parquet_row, to_sharegpt
from recordings.schema import producer_version
from recordings.select import SessionFilter
from recordings.store import default_redactor, list_sessions, read_trajectory
from recordings.tool_names import rename_sample
from recordings.trainers import (
    ArgumentTypes,
    dataset_card,
    llamafactory_ready,
    trainer_messages,
    write_dataset_info,
    write_hf,
    write_slime,
)

FORMATS = ("jsonl", "parquet", "sharegpt", "slime", "hf")
WHOLE_FORMATS = ("slime", "hf")  # written at once from every sample (pandas, save_to_disk), to a path
TooLong = Literal["drop", "truncate"]


def find_sessions(directory: Path, ids: Iterable[str]) -> list[Path]:
    """Session files by id or unique id prefix; all sessions, oldest first, when no id is given."""
    files = sorted(directory.glob("*.jsonl"))
    wanted = list(ids)
    if not wanted:
        return files
    chosen = []
    for session_id in wanted:
        matches = [path for path in files if path.stem.startswith(session_id)]
        if len(matches) != 1:
            problem = "no session" if not matches else f"{len(matches)} sessions"
            raise ValueError(f"{problem} match {session_id!r} in {directory}")
        chosen.append(matches[0])
    return chosen


def write_jsonl(rows: Iterable[dict], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


@dataclass
class Selection:
    """Which samples to export: those of the sessions `sessions` keeps. `max_length` (tokens per sample) needs
    `tokenizer`; a sample over it is dropped, or with "truncate" cut after the last assistant message that still
    fits."""

    sessions: SessionFilter = field(default_factory=SessionFilter)
    max_length: int | None = None
    tokenizer: str | None = None
    too_long: TooLong = "drop"
    dedupe: bool = True
    redact: bool = True  # secrets are redacted before anything leaves the machine
    duplicate_times: int = 1  # slime: each sample written this many times (LIMI's --duplicate_times)
    tool_names: str | None = None  # a tool profile (recordings.tool_names): calls renamed to its names; None: as sent
    tool_schemas: list[dict[str, Any]] = field(default_factory=list, repr=False)  # that profile's tools list


@dataclass
class Counts:
    sessions: int = 0  # read and selected
    unreadable: int = 0
    filtered_out: int = 0  # sessions the session filters left out
    no_assistant: int = 0  # samples the model said nothing in: nothing to train on
    too_long: int = 0
    truncated: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    written: int = 0
    redacted: int = 0  # secrets redacted in the written samples
    template_failures: int = 0  # samples the chat template rejected, measured as JSON text instead
    type_conflicts: int = 0  # slime: samples whose argument types disagree with earlier ones (LIMI's check)
    redacted_kinds: dict[str, int] = field(default_factory=dict)  # secrets redacted, on disk or now, by kind


@dataclass
class Sample:
    """A training sample and where it came from."""

    data: dict[str, Any]
    session_id: str
    context: int
    label: str | None
    model: str
    sha256: str
    tokens: int | None = None

    def entry(self) -> dict[str, Any]:
        entry = {
            "session_id": self.session_id,
            "context": self.context,
            "sha256": self.sha256,
            "messages": len(self.data["messages"]),
            "label": self.label,
        }
        return entry if self.tokens is None else {**entry, "tokens": self.tokens}


class TokenCounter:
    """Tokens of a sample as a trainer sees it: the tokenizer's chat template rendered with the tools when it
    has one, else the sample's JSON text. The tokenizer is loaded offline (a folder or a cached hub name)."""

    def __init__(self, name_or_path: str) -> None:
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load tokenizer {name_or_path!r} offline: {exc}") from exc
        self.template_failures = 0

    def count(self, data: dict[str, Any]) -> int:
        if self.tokenizer.chat_template:
            try:
                text = self.tokenizer.apply_chat_template(data["messages"], tools=data["tools"] or None, tokenize=False)
            except Exception:  # templates raise whatever they like for a shape they reject
                self.template_failures += 1
            else:
                return self._tokens(str(text))
        return self._tokens(json.dumps(data, ensure_ascii=False))

    def _tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _fit(data: dict[str, Any], counter: TokenCounter, limit: int, policy: TooLong) -> tuple[dict | None, int]:
    """The sample, or its longest prefix ending in an assistant message within `limit` tokens (binary search:
    tokens only grow with the prefix); None when nothing fits."""
    tokens = counter.count(data)
    if tokens <= limit or policy == "drop":
        return (data if tokens <= limit else None), tokens
    messages = data["messages"]
    ends = [index + 1 for index, message in enumerate(messages) if message["role"] == "assistant"]
    best: tuple[dict | None, int] = (None, tokens)
    low, high = 0, len(ends) - 2  # the last end is the whole sample, already too long
    while low <= high:
        middle = (low + high) // 2
        prefix = {"messages": messages[: ends[middle]], "tools": data["tools"]}
        prefix_tokens = counter.count(prefix)
        if prefix_tokens <= limit:
            best, low = (prefix, prefix_tokens), middle + 1
        else:
            high = middle - 1
    return best


def _near_key(data: dict[str, Any]) -> str:
    messages = data["messages"]
    first_user = next((m["content"] for m in messages if m["role"] == "user"), None)
    calls = [
        [call["function"]["name"], call["function"]["arguments"]]
        for message in messages
        for call in message.get("tool_calls") or []
    ]
    return hashlib.sha256(json.dumps([first_user, calls], sort_keys=True).encode()).hexdigest()


def select(
    paths: Iterable[Path], selection: Selection, counts: Counts, counter: TokenCounter | None = None
) -> Iterator[Sample]:
    """The samples of `paths` that pass `selection`, in order; `counts` says what happened to the others."""
    if selection.max_length is not None and counter is None:
        raise ValueError("a token limit needs a tokenizer to measure with")
    hashes: set[str] = set()
    near: set[str] = set()
    for path in paths:
        try:
            trajectory = read_trajectory(path)
        except (ValueError, OSError, KeyError):
            counts.unreadable += 1
            continue
        label = trajectory.meta.outcome
        counts.sessions += 1
        for kind, count in trajectory.redactions.items():  # redacted as it was recorded (or imported)
            counts.redacted_kinds[kind] = counts.redacted_kinds.get(kind, 0) + count
        for context, data in enumerate(trajectory.samples()):
            if selection.tool_names is not None:
                source, workspace = trajectory.meta.tool_profile, trajectory.meta.workspace
                data = rename_sample(data, source, selection.tool_names, workspace, selection.tool_schemas)
            if not any(message["role"] == "assistant" for message in data["messages"]):
                counts.no_assistant += 1
                continue
            tokens = None
            if counter is not None:
                fitted, tokens = _fit(data, counter, selection.max_length or sys.maxsize, selection.too_long)
                if fitted is None:
                    counts.too_long += 1
                    continue
                counts.truncated += fitted is not data
                data = fitted
            if selection.redact and trajectory.needs_redaction:  # redacted on disk already: skip the cost
                data, findings = default_redactor().redact(data)
                counts.redacted += len(findings)
                for finding in findings:
                    counts.redacted_kinds[finding.kind] = counts.redacted_kinds.get(finding.kind, 0) + 1
            digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()
            if selection.dedupe:
                if digest in hashes:
                    counts.duplicates += 1
                    continue
                key = _near_key(data)
                if key in near:
                    counts.near_duplicates += 1
                    continue
                hashes.add(digest)
                near.add(key)
            counts.written += 1
            yield Sample(data, trajectory.meta.session_id, context, label, trajectory.meta.model, digest, tokens)
    if counter is not None:
        counts.template_failures = counter.template_failures


def write_parquet(rows: Iterable[dict[str, Any]], out: Path, batch: int = 1000) -> None:
    """Streamed in row groups, so a large export never holds every sample at once."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError("Parquet export needs pyarrow (pip install pyarrow)") from exc
    names = ("messages", "tools", "session_id", "context", "model", "label")
    types = (pa.string(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string())
    schema = pa.schema(list(zip(names, types, strict=True)))
    with pq.ParquetWriter(out, schema) as writer:
        pending: list[dict[str, Any]] = []
        for row in rows:
            pending.append(row)
            if len(pending) == batch:
                writer.write_table(pa.Table.from_pylist(pending, schema=schema))
                pending = []
        writer.write_table(pa.Table.from_pylist(pending, schema=schema))


def write(chosen: Iterable[Sample], fmt: str, out: Path | None, stream: TextIO | None = None) -> list[dict]:
    """Write samples as `fmt` to the file `out` (or `stream` for the line formats); returns their manifest
    entries. Parquet rows also carry session id, context, model and label, for the importer and for curation."""
    entries: list[dict] = []

    def rows() -> Iterator[dict]:
        for sample in chosen:
            entries.append(sample.entry())
            if fmt == "parquet":
                provenance = {"session_id": sample.session_id, "context": sample.context, "label": sample.label}
                yield {**to_parquet_row(sample.data), **provenance, "model": sample.model}
            elif fmt == "sharegpt":
                yield to_sharegpt({**sample.data, "messages": llamafactory_ready(sample.data["messages"])})
            else:
                yield sample.data

    if fmt not in FORMATS or fmt in WHOLE_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS[:3])})")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        if out is None:
            raise ValueError("Parquet export needs an output file")
        write_parquet(rows(), out)
    elif out is None:
        write_jsonl(rows(), stream or sys.stdout)
    else:
        with open(out, "w", encoding="utf-8") as handle:
            write_jsonl(rows(), handle)
        if fmt == "sharegpt":
            write_dataset_info(out)
    return entries


def write_whole(chosen: Iterable[Sample], result: Export, out: Path | None) -> None:
    """slime Parquet or an hf folder: every sample at once, in the trainer's message shape. slime drops the
    samples LIMI's argument-type check rejects and repeats the rest `duplicate_times` times."""
    if out is None:
        raise ValueError(f"--format {result.fmt} needs --out {'FILE' if result.fmt == 'slime' else 'DIR'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    types, samples = ArgumentTypes(), []
    for sample in chosen:
        messages = trainer_messages(sample.data["messages"])
        if result.fmt == "slime" and not types.agree(messages):
            result.counts.type_conflicts += 1
            result.counts.written -= 1
            continue
        samples.append((sample, {"tools": sample.data["tools"], "messages": messages}))
    result.entries = [sample.entry() for sample, _ in samples]
    if result.fmt == "slime":
        write_slime([row for _, row in samples], out, result.selection.duplicate_times)
        return
    rows = [
        {**row, "session_id": s.session_id, "context": s.context, "model": s.model, "label": s.label}
        for s, row in samples
    ]
    measured = all(s.tokens is not None for s, _ in samples)
    tokens = [s.tokens if measured else len(canonical_json(s.data)) // 4 for s, _ in samples]
    write_hf(rows, out, dataset_card(result.manifest(), tokens, measured))  # type: ignore[arg-type]


@dataclass
class Export:
    """What one export did: its counts and, per written sample, its manifest entry."""

    fmt: str
    selection: Selection
    ids: list[str]
    counts: Counts = field(default_factory=Counts)
    entries: list[dict] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        filters = asdict(self.selection)
        filters.pop("tool_schemas")
        return {
            "sii_version": producer_version(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "format": self.fmt,
            "filters": {**filters, "ids": self.ids},
            "counts": asdict(self.counts),
            "samples": self.entries,
        }


def export(
    directory: Path,
    fmt: str,
    out: Path | None,
    selection: Selection,
    ids: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Export:
    """Export the sessions in `directory` (all, or those `ids` name); with a file to write, the manifest is
    written beside it as `<out>.manifest.json`."""
    result = Export(fmt, selection, list(ids))
    counter = TokenCounter(selection.tokenizer) if selection.tokenizer else None
    paths = find_sessions(directory, result.ids)
    if selection.sessions != SessionFilter():
        kept = {summary.path for summary in list_sessions(directory) if selection.sessions.matches(summary)}
        result.counts.filtered_out = sum(path not in kept for path in paths)
        paths = [path for path in paths if path in kept]
    chosen = select(paths, selection, result.counts, counter)
    if fmt in WHOLE_FORMATS:
        write_whole(chosen, result, out)
    else:
        result.entries = write(chosen, fmt, out, stream)
    if out is not None:
        manifest = out.with_name(out.name + ".manifest.json")
        manifest.write_text(json.dumps(result.manifest(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
