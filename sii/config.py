"""Settings resolved once, in this order (later wins): defaults, the user's config.toml, the project's
`.sii/config.toml`, environment variables, flags. The rest of sii reads one object; `sii config` shows it
with where each value came from."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from sii.approval import MODES
from sii.transport import Timeouts

ENVIRONMENT = {
    "SII_BASE_URL": "base_url",
    "SII_MODEL": "model",
    "SII_MODE": "mode",
    "SII_RECORDINGS_DIR": "recordings_dir",
    "SII_CONNECT_TIMEOUT": "server.connect_timeout",
    "SII_FIRST_TOKEN_TIMEOUT": "server.first_token_timeout",
    "SII_IDLE_TIMEOUT": "server.idle_timeout",
}
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
    "recordings_dir": str,
    "redaction.enabled": bool,
    "redaction.emails": bool,
    "sandbox.enabled": bool,
    "sandbox.network": bool,
    "mcp_servers": list,  # an array of tables, checked by mcp_server_configs
    "server.connect_timeout": (int, float),  # seconds, see sii.transport.Timeouts
    "server.first_token_timeout": (int, float),
    "server.idle_timeout": (int, float),
}
MAX_TIMEOUT_S = 3600.0  # no [server] timeout may make sii wait longer than this
# One [[mcp_servers]] table: key -> the type it must have.
MCP_SERVER_KEYS: dict[str, type] = {
    "name": str,
    "command": str,
    "args": list,
    "env": dict,
    "cwd": str,
    "url": str,
    "headers": dict,
    "trust": bool,
}
# Server names become part of tool names (mcp__<server>__<tool>), which the OpenAI schema restricts.
MCP_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]+")


REDACTION_PATTERNS = "redaction.patterns."  # [redaction.patterns] name = "regex": extra secrets to redact


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


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server: launched with `command` (stdio) or reached at `url` (streamable HTTP). `trust`: its
    tools run without approval, as read-only tools do; otherwise each call is approved like a shell command."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    trust: bool = False


def timeout_seconds(key: str, value: Any, source: str) -> float:
    """A [server] timeout (from TOML or the environment) as seconds: a number above 0 and at most an hour."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise ConfigError(f"{key} from {source} must be seconds above 0 and at most {MAX_TIMEOUT_S:g}, not {value!r}")
    return seconds


def _string_table(value: Any, what: str) -> dict[str, str]:
    if not all(isinstance(item, str) for item in value.values()):
        raise ConfigError(f"{what} must map names to strings, not {value!r}")
    return dict(value)


def mcp_server_configs(value: Any, path: Path) -> list[McpServerConfig]:
    """Check the `[[mcp_servers]]` tables of one file; every message names the file and the server."""
    if not isinstance(value, list) or not all(isinstance(table, dict) for table in value):
        raise ConfigError(f"mcp_servers in {path} must be an array of tables ([[mcp_servers]]), not {value!r}")
    servers: list[McpServerConfig] = []
    for index, table in enumerate(value, 1):
        where = f"mcp_servers entry {index} in {path}"
        name = table.get("name")
        if not isinstance(name, str) or not MCP_SERVER_NAME.fullmatch(name):
            raise ConfigError(f"{where} needs a name of letters, digits, '_' or '-', not {name!r}")
        where = f"mcp server {name!r} in {path}"
        for key, item in table.items():
            expected = MCP_SERVER_KEYS.get(key)
            if expected is None:
                raise ConfigError(f"unknown key {key!r} for {where}; known: {', '.join(MCP_SERVER_KEYS)}")
            if not isinstance(item, expected) or (isinstance(item, bool) and expected is not bool):
                raise ConfigError(f"{key} of {where} must be {expected.__name__}, not {item!r}")
        if ("command" in table) == ("url" in table):
            raise ConfigError(f"{where} needs either command (stdio) or url (streamable HTTP), not both or neither")
        if any(server.name == name for server in servers):
            raise ConfigError(f"mcp server {name!r} is defined twice in {path}")
        args = table.get("args", [])
        if not all(isinstance(arg, str) for arg in args):
            raise ConfigError(f"args of {where} must be strings, not {args!r}")
        url = table.get("url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(f"url of {where} must start with http:// or https://, not {url!r}")
        servers.append(
            McpServerConfig(
                name=name,
                command=table.get("command"),
                args=tuple(args),
                env=_string_table(table.get("env", {}), f"env of {where}"),
                cwd=table.get("cwd"),
                url=url,
                headers=_string_table(table.get("headers", {}), f"headers of {where}"),
                trust=table.get("trust", False),
            )
        )
    return servers


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
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    servers = table.pop("mcp_servers", None)  # popped first: _flatten would spread a lone [mcp_servers] table
    flat = _flatten(table)
    for key, value in flat.items():
        expected = str if key.startswith(REDACTION_PATTERNS) else KNOWN_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"unknown setting {key!r} in {path}; known: {', '.join(KNOWN_KEYS)}")
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ConfigError(f"{key} in {path} must be {getattr(expected, '__name__', 'a number')}, not {value!r}")
    if servers is not None:
        flat["mcp_servers"] = mcp_server_configs(servers, path)
    return flat


def project_safety(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """A cloned repository's config may tighten safety, never loosen it: no permissive mode, no allow rules,
    no trusted MCP servers (those belong in the user's own config or on the command line)."""
    if values.get("mode") not in (None, "ask", "plan"):
        raise ConfigError(f"{path} sets mode = {values['mode']!r}; a project may only choose ask or plan")
    if "recordings_dir" in values:
        raise ConfigError(f"{path} sets recordings_dir; where recordings go is the user's choice, not a project's")
    if values.get("redaction.enabled") is False or values.get("redaction.emails") is False:
        raise ConfigError(f"{path} turns redaction off; only {user_config_file()} may")
    if "shell.allow" in values:
        raise ConfigError(f"{path} sets shell.allow; allow rules are only read from {user_config_file()}")
    if "mcp_servers" in values:
        values["mcp_servers"] = [replace(server, trust=False) for server in values["mcp_servers"]]
    return values


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
    recordings_dir: str | None = None  # e.g. a team's shared folder; default: $SII_HOME/recordings
    redaction: bool = True  # secrets are redacted before they reach the recording
    redaction_emails: bool = True
    redaction_patterns: dict[str, str] = field(default_factory=dict)
    sandbox: bool = False  # run the shell inside bubblewrap
    sandbox_network: bool = False
    mcp_servers: list[McpServerConfig] = field(default_factory=list)
    server: Timeouts = field(default_factory=Timeouts)  # how long to wait for the model server
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def recordings(self) -> Path:
        return Path(self.recordings_dir).expanduser() if self.recordings_dir else self.home / "recordings"

    def _apply(self, values: dict[str, Any], source: str) -> None:
        for key, value in values.items():
            if value is None:
                continue
            if key.startswith("sampling."):
                self.sampling[key.split(".", 1)[1]] = value
            elif key.startswith(REDACTION_PATTERNS):
                self.redaction_patterns[key.removeprefix(REDACTION_PATTERNS)] = value
            elif key.startswith("redaction."):
                setattr(self, "redaction" if key == "redaction.enabled" else "redaction_emails", value)
            elif key.startswith("sandbox."):
                setattr(self, "sandbox" if key == "sandbox.enabled" else "sandbox_network", value)
            elif key.startswith("shell."):
                setattr(self, "shell_" + key.split(".", 1)[1], [str(rule) for rule in value])
            elif key == "mcp_servers":  # a project's server replaces the user's server of the same name
                servers = {server.name: server for server in self.mcp_servers}
                servers.update((server.name, server) for server in value)
                self.mcp_servers = list(servers.values())
            elif key.startswith("server."):
                self.server = replace(self.server, **{key[7:]: timeout_seconds(key, value, source)})
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
        settings._apply(load_config_file(user_config_file()), str(user_config_file()))
        project = project_config_file(settings.workspace)
        settings._apply(project_safety(load_config_file(project), project), str(project))
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
            (
                "mcp_servers",
                ", ".join(server.name for server in self.mcp_servers) or "-",
                self.sources.get("mcp_servers", "default"),
            ),
            *(
                (f"server.{name}", f"{seconds:g} s", self.sources.get(f"server.{name}", "default"))
                for name, seconds in asdict(self.server).items()
            ),
            ("home", str(self.home), "SII_HOME" if os.environ.get("SII_HOME") else "default"),
            ("recordings", str(self.recordings), self.sources.get("recordings_dir", "default")),
            ("user config", str(user_config_file()), ""),
            ("project config", str(project_config_file(self.workspace)), ""),
        ]
        return rows
