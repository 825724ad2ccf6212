"""Settings resolved once, in this order: defaults, the user's config.toml, the project's `.sii/config.toml`,
environment variables, flags. Each later layer sets a value outright, except the project's: a cloned repository
wrote it, so each of its keys merges by a declared rule (KEYS) that may tighten safety, never loosen it, and what
a rule refuses becomes one warning line instead of an error. The rest of sii reads one object; `sii config` shows
it with where each value came from and what was refused."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import platformdirs

from recordings.cli import sii_cache, sii_home  # where sii's data lives: below sii, for finetune too
from sii.approval import MODES
from sii.transport import Timeouts
from sii.trust import TrustStore, visible

ENVIRONMENT = {
    "SII_BASE_URL": "base_url",
    "SII_MODEL": "model",
    "SII_MODE": "mode",
    "SII_RECORDINGS_DIR": "recordings_dir",
    "SII_CONNECT_TIMEOUT": "server.connect_timeout",
    "SII_FIRST_TOKEN_TIMEOUT": "server.first_token_timeout",
    "SII_IDLE_TIMEOUT": "server.idle_timeout",
}
# How a project's value combines with the one set before it (defaults, then the user's config):
#   free          the project's value wins
#   union         the project's items are added to the list, none removed
#   tighten-only  taken only if no looser than the current value (Key.order: loosest first)
#   user-only     refused: only the user's config, the environment or a flag may set it
#   until-trusted held back until the user trusts it (the repository's MCP servers: sii.trust)
#   at-most       a number taken only if no larger than the current one (a project may shorten a wait)
# The user's own config, the environment and flags always set a value outright.
Merge = Literal["free", "union", "tighten-only", "user-only", "until-trusted", "at-most"]


def _listed(value: Any) -> str:
    """How `sii config` shows a value: lists joined, booleans as TOML writes them."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


@dataclass(frozen=True)
class Key:
    """One setting: the type its value must have, how a project's value merges, and (user-only) why; and how
    `sii config` shows it: `shown` formats a value, `unset` stands for none."""

    kind: type | tuple[type, ...]
    project: Merge
    order: tuple[Any, ...] = ()
    why: str = ""
    attr: str | None = None  # the Settings attribute, when it is not the key itself
    choices: tuple[str, ...] = ()  # the values it may take, when they are few
    shown: Callable[[Any], str] = _listed
    unset: str = "-"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _server_names(servers: list[McpServerConfig]) -> str:
    return ", ".join(server.name for server in servers) or "(none)"


def _set(_text: str) -> str:
    return "set"  # instructions may be long: `sii config` says only that they are there


TOOL_PROFILES = ("sii", "sii-cli")  # tools.profiles; spelled here so `sii --help` imports no tool
PROMPT_PROFILES = ("sii", "gemini-cli")
PROMPT_FOR_TOOLS = {"sii": "sii", "sii-cli": "gemini-cli"}
CREDENTIALS = "it decides where requests and the API key go"
# Every setting sii reads (TOML key; nested tables are flattened with a dot): a new one must say how it merges.
KEYS: dict[str, Key] = {
    "base_url": Key(str, "user-only", why=CREDENTIALS, unset="(embedded server)"),
    "api_key_env": Key(
        str,
        "user-only",
        why="it decides which environment variable is sent as the API key",
        unset="(SII_API_KEY, else OPENAI_API_KEY)",
    ),
    "model": Key(str, "free", unset="(the server's first model)"),
    "mode": Key(str, "tighten-only", order=("yolo", "auto-edit", "ask", "plan")),
    "max_steps": Key(int, "free"),
    "context_window": Key(int, "free", unset="(from the server)"),  # tokens, for servers whose /v1/models does not say
    "sampling.temperature": Key((int, float), "free"),
    "sampling.top_p": Key((int, float), "free", unset="(the server's default)"),
    "sampling.max_tokens": Key(int, "free"),
    "shell.allow": Key(list, "user-only", why="allow rules let commands run unasked", attr="shell_allow"),
    "shell.deny": Key(list, "union", attr="shell_deny"),
    "recordings_dir": Key(
        str, "user-only", why="where recordings go is the user's choice", unset="($SII_HOME/recordings)"
    ),
    "redaction.enabled": Key(bool, "tighten-only", order=(False, True), attr="redaction"),
    "redaction.emails": Key(bool, "tighten-only", order=(False, True), attr="redaction_emails"),
    "sandbox.enabled": Key(bool, "tighten-only", order=(False, True), attr="sandbox"),
    "sandbox.network": Key(bool, "tighten-only", order=(True, False), attr="sandbox_network"),
    "checkpoints.enabled": Key(bool, "tighten-only", order=(False, True), attr="checkpoints"),
    "git.hooks": Key(
        bool, "user-only", why="hooks are programs the repository chose; they run on commit", attr="git_hooks"
    ),
    "mcp_servers": Key(list, "until-trusted", shown=_server_names),  # an array of tables (mcp_server_configs)
    # Seconds (see sii.transport.Timeouts); a project could only make sii wait longer on a dead server.
    "server.connect_timeout": Key((int, float), "at-most", shown=_seconds),
    "server.first_token_timeout": Key((int, float), "at-most", shown=_seconds),
    "server.idle_timeout": Key((int, float), "at-most", shown=_seconds),
    # A project may take tools away (its disallowed names are added), never give any back: an allow list of its
    # own could name a tool the user left out, so only the user sets one.
    "tools.allowed": Key(
        list,
        "user-only",
        why="an allow list can name tools the user left out",
        attr="tools_allowed",
        unset="(every tool)",
    ),
    "tools.disallowed": Key(list, "union", attr="tools_disallowed"),
    # Which tool names and schemas the model is offered (tools.profiles), and which system prompt (sii.prompts):
    # a name for what the model was trained with; it neither grants nor takes away any permission.
    "tool_profile": Key(str, "free", choices=TOOL_PROFILES),
    "system_prompt_profile": Key(str, "free", choices=PROMPT_PROFILES, unset="(the tool profile's own)"),
    "system_prompt_append": Key(
        str, "user-only", why="a project's instructions belong in AGENTS.md, not sii's own", shown=_set
    ),
}
SERVER_KEYS = "server."
MAX_TIMEOUT_S = 3600.0  # no [server] timeout may make sii wait longer than this
REDACTION_PATTERNS = "redaction.patterns."  # [redaction.patterns] name = "regex": extra secrets to redact
# A project's regex would run over every recorded byte (a slow one stalls sii, a broken one stops it).
PATTERN_KEY = Key(str, "user-only", why="its regex runs over everything recorded")
MAX_CONFIG_BYTES = 1 << 20
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


def timeout_seconds(key: str, value: Any, source: str) -> float:
    """A [server] timeout (from TOML or the environment) as seconds: a number above 0 and at most an hour."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise ConfigError(f"{key} from {source} must be seconds above 0 and at most {MAX_TIMEOUT_S:g}, not {value!r}")
    return seconds


class ConfigError(ValueError):
    """A config file or value is wrong; the message names the file and the key."""


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


def key_spec(key: str) -> Key | None:
    return PATTERN_KEY if key.startswith(REDACTION_PATTERNS) else KEYS.get(key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return kind.__name__ if isinstance(kind, type) else "a number"


@dataclass(frozen=True)
class Refusal:
    """A setting sii did not take from a file, and why. `key` None: the whole file."""

    key: str | None
    path: Path
    reason: str

    def error(self) -> str:
        """As an error in the user's own config, which stops sii until it is fixed."""
        return f"{self.path}: {self.reason}" if self.key is None else f"{self.key} in {self.path}: {self.reason}"

    def __str__(self) -> str:
        """The one warning line for a project setting. The faces print it with rich, and the key, value and path
        were chosen by the repository: control characters are escaped, markup is quoted."""
        from rich.markup import escape

        what = f"all of {self.path}" if self.key is None else f"{self.key} in {self.path}"
        return escape(visible(f"sii: ignored {what}: {self.reason}"))


def read_config_file(path: Path) -> tuple[dict[str, Any], list[Refusal]]:
    """The file's settings, flattened, each known and of the right type, and what was not ({} without a file)."""
    if not path.is_file():
        return {}, []
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            return {}, [Refusal(None, path, f"larger than {MAX_CONFIG_BYTES} bytes")]
        table = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [Refusal(None, path, f"cannot be read as UTF-8: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        return {}, [Refusal(None, path, f"not valid TOML: {exc}")]
    servers = table.pop("mcp_servers", None)  # popped first: _flatten would spread a lone [mcp_servers] table
    values: dict[str, Any] = {}
    refused: list[Refusal] = []
    for key, value in _flatten(table).items():
        spec = key_spec(key)
        if spec is None:
            refused.append(Refusal(key, path, f"unknown setting; known: {', '.join(KEYS)}"))
        elif not isinstance(value, spec.kind) or (isinstance(value, bool) and spec.kind is not bool):
            refused.append(Refusal(key, path, f"must be {_kind_name(spec.kind)}, not {_short(value)}"))
        elif spec.choices and value not in spec.choices:
            refused.append(Refusal(key, path, f"must be one of {', '.join(spec.choices)}, not {_short(value)}"))
        else:
            values[key] = value
    if servers is not None:
        try:
            values["mcp_servers"] = mcp_server_configs(servers, path)
        except ConfigError as exc:
            refused.append(Refusal("mcp_servers", path, str(exc)))
    return values, refused


def load_config_file(path: Path) -> dict[str, Any]:
    """The user's own file: checked, and anything wrong is an error naming the file and the key."""
    values, refused = read_config_file(path)
    if refused:
        raise ConfigError(refused[0].error())
    return values


@dataclass
class Settings:
    """Where the model is, how to talk to it, and what the agent may do. `base_url=None`: the embedded server."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    workspace: Path = field(default_factory=Path.cwd)
    home: Path = field(default_factory=sii_home)
    cache: Path = field(default_factory=sii_cache)
    mode: str = "ask"
    max_steps: int = 50
    context_window: int | None = None  # assumed when the server does not report the model's window
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "max_tokens": 4096})
    timeouts: dict[str, float] = field(default_factory=lambda: asdict(Timeouts()))  # [server], in seconds
    shell_allow: list[str] = field(default_factory=list)
    shell_deny: list[str] = field(default_factory=list)
    recordings_dir: str | None = None  # e.g. a team's shared folder; default: $SII_HOME/recordings
    redaction: bool = True  # secrets are redacted before they reach the recording
    redaction_emails: bool = True
    redaction_patterns: dict[str, str] = field(default_factory=dict)
    sandbox: bool = False  # run the shell inside bubblewrap
    sandbox_network: bool = False
    checkpoints: bool = True  # a copy of the workspace before each changing turn, for /rewind
    git_hooks: bool = False  # let git_commit / git_branch run the repository's hooks
    mcp_servers: list[McpServerConfig] = field(default_factory=list)  # the servers a session starts
    tools_allowed: list[str] | None = None  # the tool names offered to the model; None: every tool
    tools_disallowed: list[str] = field(default_factory=list)  # taken away from those
    system_prompt_append: str | None = None  # added to the end of the system prompt
    tool_profile: str = "sii"  # the tool surface: sii's own, or "sii-cli" (SII CLI / Gemini CLI names)
    system_prompt_profile: str | None = None  # "sii" or "gemini-cli"; None: the tool profile's own
    project_mcp_servers: list[McpServerConfig] = field(default_factory=list)  # the repository's, not yet trusted
    refused: list[Refusal] = field(default_factory=list)  # project settings ignored
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def recordings(self) -> Path:
        return Path(self.recordings_dir).expanduser() if self.recordings_dir else self.home / "recordings"

    @property
    def server(self) -> Timeouts:
        """How long to wait for the model server."""
        return Timeouts(**self.timeouts)

    def _slot(self, key: str) -> tuple[dict[str, Any], str]:
        """The table and name that hold a key's value."""
        if key.startswith("sampling."):
            return self.sampling, key.removeprefix("sampling.")
        if key.startswith(SERVER_KEYS):
            return self.timeouts, key.removeprefix(SERVER_KEYS)
        if key.startswith(REDACTION_PATTERNS):
            return self.redaction_patterns, key.removeprefix(REDACTION_PATTERNS)
        return vars(self), KEYS[key].attr or key

    def _apply(self, values: dict[str, Any], source: str) -> None:
        """Set each value outright: the user's config, the environment, flags."""
        for key, value in values.items():
            if value is None:
                continue
            table, name = self._slot(key)
            if key.startswith(SERVER_KEYS):
                value = timeout_seconds(key, value, source)
            table[name] = [str(rule) for rule in value] if key.startswith(("shell.", "tools.")) else value
            self.sources[key] = source

    def _merge(self, key: str, spec: Key, value: Any) -> tuple[Any, str | None]:
        """A project's value combined with the current one by the key's rule, or why it is refused."""
        table, name = self._slot(key)
        current = table.get(name)
        if spec.project == "free":
            return value, None
        if spec.project == "union":
            kept = list(current or [])
            return kept + [rule for rule in map(str, value) if rule not in kept], None
        if spec.project == "at-most":
            if isinstance(value, bool) or not 0 < value <= current:
                return None, f"{_short(value)} is not above 0 and at most {current:g}; a project may only shorten it"
            return value, None
        if spec.project == "tighten-only":
            if value not in spec.order:
                return None, f"{_short(value)} is not a valid value"
            if current in spec.order and spec.order.index(value) < spec.order.index(current):
                return None, f"{value!r} is looser than {current!r}; a project may only tighten it"
            return value, None
        return None, f"only the user's config may set it: {spec.why}"

    def _apply_project(self, values: dict[str, Any], path: Path) -> None:
        """A repository's settings, each merged by its key's rule; what a rule refuses is noted and ignored."""
        for key, value in values.items():
            spec = key_spec(key)
            assert spec is not None  # read_config_file keeps known keys only
            if spec.project == "until-trusted":
                self._hold_servers(value, path)
                continue
            merged, reason = self._merge(key, spec, value)
            if reason is None:
                self._apply({key: merged}, str(path))
            else:
                self.refused.append(Refusal(key, path, reason))

    def _hold_servers(self, servers: list[McpServerConfig], path: Path) -> None:
        """The repository's MCP servers wait for the user's trust; they can neither exempt their own calls from
        approval nor stand in for a server of the user's."""
        taken = {server.name for server in self.mcp_servers}
        for server in servers:
            key = f"mcp_servers.{server.name}"
            if server.name in taken:
                self.refused.append(Refusal(key, path, "the user's config defines a server of that name"))
                continue
            if server.trust:
                self.refused.append(Refusal(key + ".trust", path, "a project cannot exempt its tools from approval"))
                server = replace(server, trust=False)
            self.project_mcp_servers.append(server)

    def admit_project_servers(self) -> None:
        """The user trusts the repository's MCP servers (asked, remembered, or --trust-project-mcp)."""
        if not self.project_mcp_servers:
            return
        origin = f"{project_config_file(self.workspace)} (trusted)"
        self.sources["mcp_servers"] = f"{self.sources['mcp_servers']}, {origin}" if self.mcp_servers else origin
        self.mcp_servers = [*self.mcp_servers, *self.project_mcp_servers]
        self.project_mcp_servers = []

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
        values, settings.refused = read_config_file(project)  # a repository's mistakes never stop sii
        settings._apply_project(values, project)
        settings._apply({key: os.environ.get(env) or None for env, key in ENVIRONMENT.items()}, "environment")
        flags = {"base_url": base_url, "model": model, "max_steps": max_steps, "mode": mode}
        settings._apply(flags, "flag")
        if settings.api_key_env:
            settings.api_key = os.environ.get(settings.api_key_env) or settings.api_key
        if settings.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
        if TrustStore(settings.home).trusts(settings.workspace, settings.project_mcp_servers):
            settings.admit_project_servers()
        return settings

    @property
    def prompt_profile(self) -> str:
        """The system prompt's profile: as set, else the one that goes with the tool profile."""
        return self.system_prompt_profile or PROMPT_FOR_TOOLS[self.tool_profile]

    def notices(self) -> list[str]:
        """The warning lines a session starts with: each ignored project setting, and untrusted project servers."""
        lines = [str(refusal) for refusal in self.refused]
        if self.project_mcp_servers:
            names = ", ".join(server.name for server in self.project_mcp_servers)
            where = visible(str(project_config_file(self.workspace)))
            lines.append(
                f"sii: not starting the MCP servers of {where} ({names}): not trusted; the REPL asks, "
                "and --trust-project-mcp starts them for one run"
            )
        return lines

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value, where it came from) rows for `sii config`: every key of KEYS, the user's extra redaction
        patterns, then what follows from them. Values may come from a repository: control and formatting
        characters are shown as escapes, so none can rewrite the terminal."""
        rows = []
        for key, spec in KEYS.items():
            table, name = self._slot(key)
            value = table.get(name)
            rows.append((key, spec.unset if value is None else spec.shown(value), self.sources.get(key, "default")))
        rows += [
            (f"{REDACTION_PATTERNS}{name}", pattern, self.sources.get(f"{REDACTION_PATTERNS}{name}", "default"))
            for name, pattern in self.redaction_patterns.items()
        ]
        rows.append(("api_key", "set" if self.api_key else "not set", self.sources.get("api_key_env", "environment")))
        project = str(project_config_file(self.workspace))
        if self.project_mcp_servers:
            rows.append(("mcp_servers (not trusted)", _server_names(self.project_mcp_servers), project))
        rows += [
            ("home", str(self.home), "SII_HOME" if os.environ.get("SII_HOME") else "default"),
            ("recordings", str(self.recordings), self.sources.get("recordings_dir", "default")),
            ("user config", str(user_config_file()), ""),
            ("project config", project, ""),
        ]
        rows += [(f"refused: {refusal.key or '(file)'}", refusal.reason, str(refusal.path)) for refusal in self.refused]
        return [(visible(setting), visible(value), visible(source)) for setting, value, source in rows]
