"""Import training data (LIMI/OpenAI JSONL, Parquet, ShareGPT) as sii recordings, one per sample, so
existing datasets can be browsed, labelled, filtered and exported like sessions recorded here."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordings.formats import from_parquet_row, from_sharegpt, normalize_messages
from recordings.records import checked_outcome
from recordings.schema import SessionMeta, producer_version
from recordings.store import RecordingWriter

IMPORT_FORMATS = ("auto", "jsonl", "parquet", "sharegpt")


def detect_format(path: Path) -> str:
    """Parquet by its magic bytes; otherwise the first record's keys tell OpenAI messages from ShareGPT."""
    with open(path, "rb") as handle:
        if handle.read(4) == b"PAR1":
            return "parquet"
    first = next(_json_records(path), None)
    if first is None:
        raise ValueError(f"{path} holds no records")
    if "conversations" in first:
        return "sharegpt"
    if "messages" in first:
        return "jsonl"
    raise ValueError(f"{path}: records have neither 'messages' nor 'conversations'")


def _json_records(path: Path) -> Iterator[dict[str, Any]]:
    """JSON lines, or one JSON array of records (how LLaMA-Factory's own ShareGPT files come)."""
    with open(path, encoding="utf-8") as handle:
        start = handle.read(1)
        while start.isspace():
            start = handle.read(1)
        handle.seek(0)
        if start == "[":
            yield from json.load(handle)
            return
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc


def _parquet_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ValueError("Parquet import needs pyarrow (pip install pyarrow)") from exc
    for batch in pq.ParquetFile(path).iter_batches():
        yield from batch.to_pylist()


def read_samples(path: Path, fmt: str = "auto") -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(sample, the record it came from) for each record of the file."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "parquet":
        for record in _parquet_records(path):
            yield from_parquet_row(record), record
    elif fmt == "sharegpt":
        for record in _json_records(path):
            yield from_sharegpt(record), record
    elif fmt == "jsonl":
        for record in _json_records(path):
            yield {"messages": normalize_messages(record["messages"]), "tools": record.get("tools") or []}, record
    else:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})")


@dataclass
class Imported:
    session_ids: list[str] = field(default_factory=list)
    already_there: int = 0  # imported before (same file contents, same row): left as they were


def import_file(path: Path, directory: Path, fmt: str = "auto", outcome: str = "success") -> Imported:
    """One recording per sample, named `import-<file digest>-<row>` so rows keep their order when exported
    and importing the same file again changes nothing. A record's own `label` (sii's Parquet) wins over
    `outcome`, which defaults to success: a published dataset is curated (an unlabelled session exported by
    sii comes back unlabelled). The model is the record's `model`,
    else "unknown"."""
    checked_outcome(outcome)
    digest = _digest(path)
    result = Imported()
    for row, (sample, record) in enumerate(read_samples(path, fmt)):
        session_id = f"import-{digest}-{row:08d}"
        target = directory / f"{session_id}.jsonl"
        if target.exists():
            result.already_there += 1
            continue
        meta = SessionMeta(
            session_id=session_id,
            sii_version=producer_version(),
            face="import",
            model=record.get("model") or "unknown",
            base_url="",
            sampling={},
            workspace="",
            started_at=time.time(),
            outcome=record.get("label", outcome),
            notes=[_provenance(path, row, record)],
        )
        partial = target.with_name(target.name + ".partial")  # not *.jsonl: never listed half-written
        partial.unlink(missing_ok=True)
        writer = RecordingWriter(partial)
        writer.session(meta, sample["tools"], sync=False)
        for message in sample["messages"]:
            writer.message(message=message)
        writer.end({"ended_at": meta.started_at}, sync=False)  # the close syncs
        writer.close()
        if writer.last_error is not None:
            raise ValueError(f"cannot write {partial}: {writer.last_error}")
        partial.rename(target)
        result.session_ids.append(session_id)
    return result


def _provenance(path: Path, row: int, record: dict[str, Any]) -> str:
    note = f"imported from {path.resolve()} (record {row})"
    if record.get("session_id"):  # sii's own Parquet says where the sample was recorded
        note += f"; recorded as session {record['session_id']}, context {record.get('context')}"
    return note


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:10]
