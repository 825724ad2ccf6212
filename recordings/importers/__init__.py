"""Other agents' session logs as sii recordings: SII CLI conversation logs, Gemini CLI chats, Qwen Code chat
records, Claude Code transcripts, Codex CLI rollouts, mini-swe-agent trajectories and OpenHands event streams.
Each file becomes one recording (`face` "import", a `source:<format>` tag, a note naming the file), redacted as
it is written, so `sii recordings list/show/validate/export` and finetuning treat it like a session recorded
here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recordings.importers import claude, codex, gemini, miniswe, openhands
from recordings.importers.common import ImportedSession, check_size, load_json, parse_json, source_key, write_session

READERS: dict[str, Callable[[Path], ImportedSession]] = {
    "sii-cli": gemini.read_sii_cli,
    "gemini": gemini.read_gemini,
    "qwen": gemini.read_qwen,
    "claude": claude.read_claude,
    "codex": codex.read_codex,
    "mini-swe-agent": miniswe.read_miniswe,
    "openhands": openhands.read_openhands,
}
AGENT_FORMATS = tuple(READERS)
SNIFF_LINES = 200  # Claude Code files can open with many file-history snapshots before the first message


def detect(path: Path) -> str | None:
    """The agent format of `path` from its contents, or None when it is none of them (a dataset, say). A file
    past MAX_SOURCE_BYTES is refused (ValueError); a JSON document is parsed whole, of JSON lines the first
    SNIFF_LINES are read."""
    if path.suffix == ".json":
        try:
            data = load_json(path)
        except json.JSONDecodeError:  # not JSON: not a log (one nested too deep is refused: ValueError)
            return None
        if miniswe.looks_like(data):
            return "mini-swe-agent"
        return "openhands" if openhands.looks_like(data) else gemini.looks_like(data)
    if path.suffix != ".jsonl":
        return None
    check_size(path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        records = [r for r in (_record(line) for line in itertools.islice(handle, SNIFF_LINES)) if r is not None]
    if any(isinstance(r.get("message"), dict) and "parts" in r["message"] for r in records):
        return "qwen"
    if codex.looks_like(records):
        return "codex"
    if claude.looks_like(records):
        return "claude"
    return None


def _record(line: str) -> dict | None:
    try:
        record = parse_json(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class AgentImport:
    session_ids: list[str] = field(default_factory=list)
    already_there: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)


def import_logs(paths: list[Path], directory: Path, fmt: str | None, outcome: str | None, result: AgentImport) -> None:
    """Import each file of `paths` (its format detected unless `fmt` names it). A file that cannot be read is
    noted in `result.failed` and the rest go on."""
    for path in paths:
        try:
            name = fmt or detect(path)
            if name is None:
                result.failed.append((path, "not a session log of a known agent"))
                continue
            if (directory / f"{source_key(path, name)}.jsonl").exists():
                result.already_there.append(path)
                continue
            session_id = write_session(READERS[name](path), path, directory, outcome)
        except (ValueError, OSError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            result.failed.append((path, str(exc)))
            continue
        if session_id is None:
            result.already_there.append(path)
        else:
            result.session_ids.append(session_id)


def logs_under(folder: Path) -> Iterator[Path]:
    """Every candidate log under `folder`, in a stable order; links are not followed (a log folder may be
    shared, and a link could lead anywhere)."""
    for path in sorted(folder.rglob("*")):
        linked = any(part.is_symlink() for part in [path, *path.parents] if folder in part.parents)
        if path.suffix in (".json", ".jsonl") and not linked and path.is_file():
            yield path
