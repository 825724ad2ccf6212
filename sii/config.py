"""Settings resolved once from flags and environment variables, so the rest of sii reads one object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs


def sii_home() -> Path:
    """All of sii's data: `$SII_HOME` when set, else the XDG data dir."""
    return Path(os.environ.get("SII_HOME") or platformdirs.user_data_dir("sii"))


def sii_cache() -> Path:
    """Rebuildable data (the converted bundled model): `$SII_CACHE` when set, else the XDG cache dir."""
    return Path(os.environ.get("SII_CACHE") or platformdirs.user_cache_dir("sii"))


@dataclass
class Settings:
    """Where the model is and how to talk to it. `base_url=None` means: use the embedded server."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    workspace: Path = field(default_factory=Path.cwd)
    home: Path = field(default_factory=sii_home)
    cache: Path = field(default_factory=sii_cache)
    max_steps: int = 50
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "max_tokens": 4096})

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        model: str | None = None,
        workspace: Path | None = None,
        max_steps: int | None = None,
    ) -> Settings:
        """Flags win over environment variables (`SII_BASE_URL`, `SII_MODEL`, `SII_API_KEY`)."""
        settings = cls(
            base_url=base_url or os.environ.get("SII_BASE_URL") or None,
            model=model or os.environ.get("SII_MODEL") or None,
            api_key=os.environ.get("SII_API_KEY") or os.environ.get("OPENAI_API_KEY") or None,
        )
        if workspace is not None:
            settings.workspace = workspace
        if max_steps is not None:
            settings.max_steps = max_steps
        return settings
