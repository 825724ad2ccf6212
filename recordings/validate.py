"""Checks that a recording is usable training data: readable, well-formed messages, every tool call answered
by exactly one result in the same context, and no result without its call. Any JSON at all can be checked:
wrong types anywhere are findings (from JSON Schemas derived from the format's declaration, recordings.records),
never a crash; so are a kind the format does not declare and a file in a newer format than this sii's."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from recordings.records import (
    FORMAT,
    FORMAT_NAME,
    FORMAT_VERSION,
    KINDS,
    Envelope,
    declared_kind,
    format_version,
    kind_of,
)
from recordings.schema import MESSAGE_SCHEMA, Trajectory
from recordings.store import iter_records, read_trajectory
from recordings.strictjson import parse_json

MAX_SHOWN = 120  # characters of a wrong value quoted in a finding


@functools.cache
def _validator(record_type: str | None) -> Any:
    """The validator of a record of the declared kind `record_type` ("": the fields every record has), or of
    one message for None."""
    from jsonschema import Draft202012Validator

    from recordings.typeschema import json_schema

    if record_type is None:
        return Draft202012Validator(MESSAGE_SCHEMA)
    declared = kind_of({"type": record_type})
    own = json_schema(declared.fields) if declared else {}
    return Draft202012Validator({"allOf": [json_schema(Envelope), own]})


def _schema_findings(value: Any, record_type: str | None, where: str) -> list[str]:
    """Where `value` breaks the schema, one finding per error: the path inside it, and what is wrong."""
    found = []
    errors = _validator(record_type).iter_errors(value)
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        shown = json.dumps(error.instance, ensure_ascii=False, default=repr)
        shown = shown if len(shown) <= MAX_SHOWN else shown[:MAX_SHOWN] + "…"
        found.append(
            f"{where}{path}: {error.validator} {json.dumps(error.validator_value)[:MAX_SHOWN]} fails on {shown}"
        )
    return found


def record_problems(record: dict[str, Any], number: int) -> list[str]:
    """Problems of one record (the `number`th of its file): a kind the format does not declare, a newer format
    than this sii reads, and wrong types (against its kind's declaration)."""
    kind = record.get("type")
    known = declared_kind(record) or ""
    where = f"record {number} ({str(kind)[:40]!r})"
    found = _schema_findings(record, known, where)
    if isinstance(kind, str) and not known:
        found.append(f"{where}: unknown record kind (format {FORMAT} declares {', '.join(KINDS)})")
    if known == "session":
        found += _format_problems(record, where)
    return found


def _format_problems(header: dict[str, Any], where: str) -> list[str]:
    """The header's format, when this sii cannot read all of it: a newer version, or no version it knows."""
    version = format_version(header)
    shown = json.dumps(header.get("format"), ensure_ascii=False, default=repr)[:MAX_SHOWN]
    if version is None:
        return [f"{where}: format {shown} is not {FORMAT_NAME}/<version>; this sii reads {FORMAT} and older"]
    if version > FORMAT_VERSION:
        return [f"{where}: written in format {shown}, newer than this sii reads ({FORMAT}): upgrade sii to read all"]
    return []


def file_problems(path: Path) -> list[str]:
    """Everything wrong with a recording file. Records are type-checked first; only a file whose records are
    all well-typed is read as a trajectory and checked against the conversation rules (`problems`)."""
    found: list[str] = []
    for number, record in enumerate(iter_records(path), start=1):
        if record is not None:  # an unreadable line is counted by read_trajectory, below
            found += record_problems(record, number)
    if found:
        return found
    try:
        return problems(read_trajectory(path))
    except ValueError as exc:
        return [str(exc)]


def problems(trajectory: Trajectory) -> list[str]:
    """Human-readable problems; an empty list means the trajectory is valid."""
    found = []
    if trajectory.skipped_lines:
        found.append(f"{trajectory.skipped_lines} unreadable line(s) skipped (a torn write)")
    for number, context in enumerate(trajectory.contexts or [trajectory.messages], start=1):
        where = f"context {number}" if len(trajectory.contexts) > 1 else "conversation"
        pending: dict[str, int] = {}
        for index, message in enumerate(context):
            if malformed := _schema_findings(message, None, f"{where}, message {index}"):
                found += malformed
                continue
            role = message["role"]
            if role == "assistant":
                for call in message.get("tool_calls", []):
                    call_id = call.get("id")
                    if not call_id:
                        found.append(f"{where}, message {index}: a tool call without an id")
                    elif call_id in pending:
                        found.append(f"{where}, message {index}: tool call id {call_id!r} used twice")
                    if _holds_an_object(call["function"]["arguments"]):
                        found.append(f"{where}, message {index}: arguments of {call_id!r} are JSON text, not an object")
                    pending[call_id or ""] = index
            elif role == "tool":
                result_id = message.get("tool_call_id")
                if result_id not in pending:
                    found.append(f"{where}, message {index}: result for unknown tool call {result_id!r}")
                pending.pop(result_id or "", None)
            elif pending:
                found.append(f"{where}, message {index}: {role} message before tool calls were answered")
                pending.clear()
        found += [f"{where}: tool call {call_id!r} was never answered" for call_id in pending]
    return found


def _holds_an_object(arguments: dict[str, Any] | str) -> bool:
    """Arguments are recorded as an object; as a string only when the model's text held none (see
    `recordings.schema.FunctionCall`). A string that parses to an object was recorded wrong."""
    if not isinstance(arguments, str):
        return False
    try:
        return isinstance(parse_json(arguments), dict)
    except ValueError:
        return False
