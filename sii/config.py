"""Settings resolved once, in this order (later wins): defaults, the user's config.toml, the project's
`.sii/config.toml`, environment variables, flags. The rest of sii reads one object; `sii config` shows it
with where each value came from."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from sii.approval import MODES

ENVIRONMENT = {"SII_BASE_URL": "base_url", "SII_MODEL": "model", "SII_MODE": "mode"}
# TOML key -> the type it must have. Nested tables are flattened with a dot.
KNOWN_KEYS: dict[str, type | tuple[type, ...]] = {
    "base_url": str,
    "model": str,
    "api_key_env": str,
    "mode": str,
    "max_steps": int,
    "sampling.temperature": (int, float),
    "sampling.top_p": (int, float),
    "sampling.max_tokens": int,
    "shell.allow": list,
    "shell.deny": list,
}


class ConfigError(ValueError):
    """A config file or value is wrong; the message names the file and the key."""


def sii_home() -> Path:
    """All of sii's data: `$SII_HOME` when set, else the XDG data dir."""
    return Path(os.environ.get("SII_HOME") or platformdirs.user_data_dir("sii"))


def sii_cache() -> Path:
    """Rebuildable data (the converted bundled model): `$SII_CACHE` when set, else the XDG cache dir."""
    return Path(os.environ.get("SII_CACHE") or platformdirs.user_cache_dir("sii"))


def user_config_file() -> Path:
    """`$SII_HOME/config.toml` when SII_HOME is set (a self-contained home), else the XDG config dir."""
    if os.environ.get("SII_HOME"):
        return sii_home() / "config.toml"
    return Path(platformdirs.user_config_dir("sii")) / "config.toml"


def project_config_file(workspace: Path) -> Path:
    return workspace / ".sii" / "config.toml"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load_config_file(path: Path) -> dict[str, Any]:
    """The file's settings, flattened and checked; {} when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        flat = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    for key, value in flat.items():
        expected = KNOWN_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"unknown setting {key!r} in {path}; known: {', '.join(KNOWN_KEYS)}")
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{key} in {path} must be {getattr(expected, '__name__', 'a number')}, not {value!r}")
    return flat


@dataclass
class Settings:
    """Where the model is, how to talk to it, and what the agent may do. `base_url=None`: the embedded server."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    workspace: Path = field(default_factory=Path.cwd)
    home: Path = field(default_factory=sii_home)
    cache: Path = field(default_factory=sii_cache)
    mode: str = "ask"
    max_steps: int = 50
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "max_tokens": 4096})
    shell_allow: list[str] = field(default_factory=list)
    shell_deny: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def _apply(self, values: dict[str, Any], source: str) -> None:
        for key, value in values.items():
            if value is None:
                continue
            if key.startswith("sampling."):
                self.sampling[key.split(".", 1)[1]] = value
            elif key.startswith("shell."):
                setattr(self, "shell_" + key.split(".", 1)[1], [str(rule) for rule in value])
            elif key == "api_key_env":
                self.api_key = os.environ.get(value) or self.api_key
            else:
                setattr(self, key, value)
            self.sources[key] = source

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        model: str | None = None,
        workspace: Path | None = None,
        max_steps: int | None = None,
        mode: str | None = None,
    ) -> Settings:
        settings = cls(workspace=workspace or Path.cwd())
        settings.api_key = os.environ.get("SII_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
        for path in (user_config_file(), project_config_file(settings.workspace)):
            settings._apply(load_config_file(path), str(path))
        settings._apply({key: os.environ.get(env) or None for env, key in ENVIRONMENT.items()}, "environment")
        flags = {"base_url": base_url, "model": model, "max_steps": max_steps, "mode": mode}
        settings._apply(flags, "flag")
        if settings.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
        return settings

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value, where it came from) rows for `sii config`."""
        rows = [
            ("base_url", self.base_url or "(embedded server)", self.sources.get("base_url", "default")),
            ("model", self.model or "(the server's first model)", self.sources.get("model", "default")),
            ("api_key", "set" if self.api_key else "not set", self.sources.get("api_key_env", "environment")),
            ("mode", self.mode, self.sources.get("mode", "default")),
            ("max_steps", str(self.max_steps), self.sources.get("max_steps", "default")),
        ]
        rows += [
            (f"sampling.{key}", str(value), self.sources.get(f"sampling.{key}", "default"))
            for key, value in self.sampling.items()
        ]
        rows += [
            ("shell.allow", ", ".join(self.shell_allow) or "-", self.sources.get("shell.allow", "default")),
            ("shell.deny", ", ".join(self.shell_deny) or "-", self.sources.get("shell.deny", "default")),
            ("home", str(self.home), "SII_HOME" if os.environ.get("SII_HOME") else "default"),
            ("user config", str(user_config_file()), ""),
            ("project config", str(project_config_file(self.workspace)), ""),
        ]
        return rows
