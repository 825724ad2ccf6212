"""Where a fine-tune lives: `$SII_HOME/finetune/<name>-v<N>/`. A run is finished when its manifest.json is
written; until then `--resume` picks it up from its last checkpoint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"
RUN_NAME = re.compile(r"[\w.-]+-v\d+")


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
    """The run's manifest; a ValueError names the file when it is unreadable or not a manifest."""
    try:
        manifest = json.loads((run / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {run / MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("base_model"), str):
        raise ValueError(f"{run / MANIFEST} is not a fine-tune manifest")
    return manifest


@dataclass(frozen=True)
class RunSummary:
    """One run folder as `sii finetune list` shows it; `manifest` is None while unfinished (or unreadable)."""

    path: Path
    manifest: dict[str, Any] | None
    problem: str = ""  # why the manifest could not be read

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def base(self) -> str:
        return Path(self.manifest["base_model"]).name if self.manifest else ""


def list_runs(home: Path) -> list[RunSummary]:
    """Every `<name>-v<N>` folder, newest first (by the time its folder last changed)."""
    folders = [p for p in runs_dir(home).glob("*-v*") if p.is_dir() and RUN_NAME.fullmatch(p.name)]
    summaries = []
    for path in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True):
        if not (path / MANIFEST).exists():
            summaries.append(RunSummary(path, None))
            continue
        try:
            summaries.append(RunSummary(path, read_manifest(path)))
        except ValueError as exc:
            summaries.append(RunSummary(path, None, str(exc)))
    return summaries


def find_run(home: Path, name: str) -> Path:
    """A finished run by folder name (`agent-v2`), by name (`agent`: its newest finished version) or by path."""
    candidates = [Path(name).expanduser()] if "/" in name else []
    if RUN_NAME.fullmatch(name):
        candidates.append(runs_dir(home) / name)
    elif not candidates and name not in (".", ".."):
        candidates += [path for _, path in reversed(_versions(home, name))]
    for path in candidates:
        if (path / MANIFEST).is_file():
            return path
    known = ", ".join(s.name for s in list_runs(home) if s.manifest) or "none"
    unfinished = [p for p in candidates if p.is_dir()]
    why = f"{unfinished[0]} is not finished (no {MANIFEST})" if unfinished else f"no fine-tune run {name!r}"
    raise ValueError(f"{why}; finished runs in {runs_dir(home)}: {known}")
