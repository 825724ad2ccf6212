"""Calling a tool the way the agent does, waiting on what it started, and writing recordings, for tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from recordings.schema import SessionMeta
from recordings.store import RecordingWriter
from tools import Observation, ToolContext
from tools.default import default_registry


def run(ctx: ToolContext, tool: str, /, **arguments: Any) -> Observation:
    """Dispatch through the default registry: the same checks and error handling as a model's call."""
    return default_registry().dispatch(tool, arguments, ctx)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def meta(session_id: str = "20261125-000000-abcdef", **fields: Any) -> SessionMeta:
    """A session header's facts with test defaults: a test names only the facts it is about."""
    defaults: dict[str, Any] = {
        "sii_version": "test",
        "face": "test",
        "model": "m",
        "base_url": "http://x/v1",
        "sampling": {},
        "workspace": "/w",
        "started_at": 1.0,
    }
    return SessionMeta(session_id=session_id, **{**defaults, **fields})


def make_recording(
    path: Path,
    records: Iterable[tuple[str, dict[str, Any]]] = (),
    *,
    tools: Iterable[dict[str, Any]] = (),
    label: str | None = None,
    redactor: Literal["default"] | None = "default",
    **meta_fields: Any,
) -> Path:
    """A recording written the way sii writes one, through the format's checked writer: the header (its
    session id the file's name, the rest `meta(**meta_fields)`), `records` as (kind, fields) pairs, a label."""
    writer = RecordingWriter(path, redactor=redactor)
    writer.session(meta(path.stem, **meta_fields), list(tools))
    for kind, fields in records:
        writer.write(kind, **fields)
    if label:
        writer.label(label)
    writer.close()
    return path


def messages(*conversation: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`message` records of `conversation`, for make_recording."""
    return [("message", {"message": message}) for message in conversation]
