"""Export recorded sessions as training samples (LIMI/OpenAI `{"messages", "tools"}` JSONL)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from recordings.store import read_trajectory


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


def samples(paths: Iterable[Path]) -> Iterator[dict]:
    for path in paths:
        yield from read_trajectory(path).samples()


def write_jsonl(rows: Iterable[dict], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
