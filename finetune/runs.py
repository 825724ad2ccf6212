"""Where a fine-tune lives: `$SII_HOME/finetune/<name>-v<N>/`. A run is finished when its manifest.json is
written; until then `--resume` picks it up from its last checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"


def runs_dir(home: Path) -> Path:
    return home / "finetune"


def _versions(home: Path, name: str) -> list[tuple[int, Path]]:
    pattern = re.compile(rf"{re.escape(name)}-v(\d+)")
    found = [(int(m.group(1)), p) for p in runs_dir(home).glob(f"{name}-v*") if (m := pattern.fullmatch(p.name))]
    return sorted(found)


def new_run(home: Path, name: str) -> Path:
    """The next version's folder, created."""
    versions = _versions(home, name)
    path = runs_dir(home) / f"{name}-v{versions[-1][0] + 1 if versions else 1}"
    path.mkdir(parents=True)
    return path


def unfinished_run(home: Path, name: str) -> Path:
    """The newest version of `name` that has a checkpoint and no manifest, for --resume."""
    for _, path in reversed(_versions(home, name)):
        if (path / MANIFEST).exists():
            break
        if any((path / CHECKPOINTS).glob("checkpoint-*")):
            return path
    raise ValueError(f"no interrupted fine-tune named {name!r} to resume in {runs_dir(home)}")


def write_manifest(run: Path, manifest: dict[str, Any]) -> None:
    (run / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def read_manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / MANIFEST).read_text())
