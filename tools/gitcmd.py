"""The one way sii runs git. A repository's config (and the files it includes) is written by someone else, so every
setting that makes git run a program is overridden: fsmonitor, hooks, pagers, editors, credential helpers, askpass,
ssh, gpg, transports (and with them upload-pack and lazy fetches), and each clean/smudge/process filter the config
defines (their names are read with `git config --list`, which runs nothing). The environment is an allow-list, git
discovery stops at the boundary (the workspace), the sandbox contains git when one is given, and every call has a
timeout and a cap on what it may print. Callers still pass `--no-ext-diff --no-textconv` where git makes a diff.
Left alone because no command sii runs reaches them: merge drivers and merge/diff tools, browsers and man viewers,
`trailer.*.command` (sii writes its trailer itself), core.gitProxy and the push/fetch-side hooks (no transport runs),
uploadpack.packObjectsHook (git reads it from protected config only)."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_TIMEOUT = 60.0
MAX_OUTPUT = 32 * 1024 * 1024  # bytes of stdout (and of stderr) kept; git is stopped beyond

# Inherited as they are: where programs and the user's own config live, and who the user is. Everything else, the
# GIT_* variables above all (GIT_DIR, GIT_EXTERNAL_DIFF, GIT_SSH_COMMAND, GIT_CONFIG_*, GIT_EXEC_PATH), is dropped.
_INHERITED = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "TZ",
    "EMAIL",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
)
# Besides GIT_*, what git needs to keep inside the sandbox.
_SANDBOXED_ENV = frozenset({"LC_ALL", "PAGER", "EMAIL"})
_FIXED_ENV = {
    "LC_ALL": "C",  # messages callers match on, and bytes left as they are
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",  # empty: no askpass program, and core.askPass / SSH_ASKPASS are not consulted
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": ":",  # git skips the editor when it is ':'
    "GIT_SEQUENCE_EDITOR": ":",
    "GIT_OPTIONAL_LOCKS": "0",  # `git status` does not rewrite the index
    "GIT_LITERAL_PATHSPECS": "1",  # a path is a path: no ':(magic)', no globs
    "GIT_PROTOCOL_FROM_USER": "0",
    "GIT_NO_LAZY_FETCH": "1",  # git >= 2.44; older ones are stopped by protocol.allow=never
    "GIT_TRACE2": "0",
    "GIT_TRACE2_EVENT": "0",
    "GIT_TRACE2_PERF": "0",
}
# Settings whose value is a program (or that make git start one), and the value that keeps it from running.
_NEUTRAL = {
    "core.fsmonitor": "false",
    "core.pager": "cat",
    "core.editor": ":",
    "sequence.editor": ":",
    "core.askPass": "",
    "core.sshCommand": "false",
    "credential.helper": "",  # an empty value resets the list of helpers
    "gpg.program": "false",
    "gpg.openpgp.program": "false",
    "gpg.x509.program": "false",
    "gpg.ssh.program": "false",
    "gpg.ssh.defaultKeyCommand": "false",
    "commit.gpgSign": "false",
    "tag.gpgSign": "false",
    "log.showSignature": "false",
    "protocol.allow": "never",  # no transport at all: fetch, lazy fetch, remote helpers, ext::
    "submodule.recurse": "false",
    "diff.submodule": "short",
    "diff.ignoreSubmodules": "dirty",
    "status.submoduleSummary": "false",
    "diff.autoRefreshIndex": "false",  # `git diff` would rewrite the index (stat data) as it goes
    "gc.auto": "0",
    "maintenance.auto": "false",
    "safe.bareRepository": "explicit",  # a bare repository planted in the workspace is not picked up by discovery
    # Not programs, but they would garble what the model reads.
    "color.ui": "never",
    "color.status": "never",
    "i18n.logOutputEncoding": "UTF-8",
}
_NO_HOOKS = {"core.hooksPath": "/dev/null"}
# Per-name settings: for every <name> the config mentions under the section, these values override it.
_PER_NAME = {
    "filter": {"clean": "", "smudge": "", "process": "", "required": "false"},
    "credential": {"helper": ""},
    "protocol": {"allow": "never"},
    "remote": {"uploadpack": "git-upload-pack", "receivepack": "git-receive-pack", "promisor": "false"},
    "submodule": {"ignore": "dirty"},  # a submodule's own config is not vetted: its work tree is not looked into
}
_USER_SCOPES = frozenset({"global"})  # the user's own config file (the system one is not read)


class Sandbox(Protocol):
    """What git needs of `tools.sandbox.Sandbox`: the command prefix that confines a program to a workspace."""

    def command(
        self, workspace: Path, *, env: Mapping[str, str] | None = None, writable: Sequence[Path] = ()
    ) -> list[str]: ...


class GitError(Exception):
    """git could not be started, ran past its timeout, or its config cannot be read."""


@dataclass(frozen=True)
class GitResult:
    stdout: bytes
    stderr: bytes
    exit_code: int
    truncated: bool = False  # stdout passed the cap and git was stopped

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def error(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


def git(
    args: Sequence[str],
    cwd: Path,
    *,
    boundary: Path | None = None,
    sandbox: Sandbox | None = None,
    env: Mapping[str, str] | None = None,
    hooks: bool = False,
    writes: bool = False,
    user_config: bool = True,
    user_filters: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = MAX_OUTPUT,
) -> GitResult:
    """Run `git <args>` in `cwd` with the repository's programs turned off. `boundary` (default `cwd`): git looks
    for a repository no further up than it, and the sandbox is made for it. `env`: extra variables (GIT_DIR...).
    `hooks`: leave hooks on (the user allowed them). `writes`: the call writes the repository (commit, switch), so
    inside the sandbox .git is writable for it. `user_config=False`: not even the user's ~/.gitconfig is read.
    `user_filters`: filters defined only in the user's own config still run (git-lfs on commit and switch)."""
    deadline = time.monotonic() + timeout
    root = (boundary or cwd).resolve()
    base = _environment(root, env or {}, user_config)
    if sandbox is not None and writes:
        base = {**_identity(root, base, deadline), **base}
    # A commit or a switch writes the repository; the sandbox keeps .git read-only for everything else.
    dot_git = root / ".git"
    writable = [dot_git] if sandbox is not None and writes and dot_git.is_dir() and not dot_git.is_symlink() else []

    def confined(variables: Mapping[str, str]) -> list[str]:
        """The sandbox prefix, carrying git's own variables (the sandbox clears everything else)."""
        if sandbox is None:
            return []
        inside = {key: value for key, value in variables.items() if key.startswith("GIT_") or key in _SANDBOXED_ENV}
        try:
            return sandbox.command(root, env=inside, writable=writable)
        except (RuntimeError, OSError) as exc:  # bubblewrap missing: git does not run unconfined instead
            raise GitError(f"the sandbox cannot run git: {exc}") from exc

    settings = dict(_NEUTRAL) if hooks else {**_NEUTRAL, **_NO_HOOKS}
    listing = ["git", "--no-pager", "config", "--list", "--show-scope", "--name-only", "-z"]
    listed = _run([*confined(base), *listing], cwd, base, deadline, max_output)
    if listed.exit_code != 0 or listed.truncated:
        raise GitError(f"git cannot read the repository's config: {listed.error or 'too large'}")
    settings.update(_per_name_overrides(_scoped_names(listed.stdout), user_filters))
    variables = {**base, **_config_env(settings)}
    return _run([*confined(variables), "git", "--no-pager", *args], cwd, variables, deadline, max_output)


def _identity(root: Path, base: Mapping[str, str], deadline: float) -> dict[str, str]:
    """The user's name and e-mail for a commit made inside the sandbox, where their ~/.gitconfig is not visible:
    read outside it (reading config runs nothing) and passed in as GIT_AUTHOR_* / GIT_COMMITTER_*."""
    identity: dict[str, str] = {}
    for key, names in (
        ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
        ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
    ):
        found = _run(["git", "--no-pager", "config", "--get", key], root, dict(base), deadline, 4096)
        value = found.stdout.decode("utf-8", "replace").strip()
        if found.exit_code == 0 and value:
            identity.update(dict.fromkeys(names, value))
    return identity


def _environment(root: Path, extra: Mapping[str, str], user_config: bool) -> dict[str, str]:
    inherited = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    fixed = {**_FIXED_ENV, "GIT_CEILING_DIRECTORIES": str(root.parent)}
    if not user_config:
        fixed["GIT_CONFIG_GLOBAL"] = os.devnull
    return {**inherited, **fixed, **extra}


def _config_env(settings: Mapping[str, str]) -> dict[str, str]:
    """Settings as GIT_CONFIG_KEY_n/VALUE_n: unlike `-c key=value`, a name holding '=' cannot split them wrongly."""
    pairs = {"GIT_CONFIG_COUNT": str(len(settings))}
    for index, (key, value) in enumerate(settings.items()):
        pairs[f"GIT_CONFIG_KEY_{index}"] = key
        pairs[f"GIT_CONFIG_VALUE_{index}"] = value
    return pairs


def _scoped_names(listing: bytes) -> Iterator[tuple[str, str]]:
    """(scope, key) pairs from `git config --list --show-scope --name-only -z`."""
    fields = os.fsdecode(listing).split("\0")
    return zip(fields[0::2], fields[1::2], strict=False)


def _per_name_overrides(scoped: Iterator[tuple[str, str]], user_filters: bool) -> dict[str, str]:
    """Overrides for every named filter, credential helper, protocol and remote the config mentions. With
    `user_filters`, a filter named only in the user's own config is left as it is."""
    scopes: dict[tuple[str, str], set[str]] = {}
    for scope, key in scoped:
        section, _, rest = key.partition(".")
        name, dot, _ = rest.rpartition(".")
        if dot and section.lower() in _PER_NAME:  # `[filter ""]` is a name too: the empty one
            scopes.setdefault((section.lower(), name), set()).add(scope)
    overrides = {}
    for (section, name), seen in scopes.items():
        if section == "filter" and user_filters and seen <= _USER_SCOPES:
            continue
        overrides.update({f"{section}.{name}.{variable}": value for variable, value in _PER_NAME[section].items()})
    return overrides


def _run(command: list[str], cwd: Path, env: dict[str, str], deadline: float, max_output: int) -> GitResult:
    """Run to completion or to the deadline, keeping at most `max_output` bytes of each stream. git and anything
    it started are killed as a group when the time is up or stdout overflows."""
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError(f"git could not be started: {exc}") from exc
    with proc:
        try:
            stdout, stderr, finished = _collect(proc, deadline, max_output)
        finally:
            if proc.returncode is None:  # not reaped yet, so the group id is still git's own
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    return GitResult(stdout, stderr, proc.returncode, truncated=not finished)


def _collect(proc: subprocess.Popen[bytes], deadline: float, max_output: int) -> tuple[bytes, bytes, bool]:
    """Both streams (each capped), and whether git exited by itself; stops early when stdout overflows."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out: [], err: []}
    sizes = dict.fromkeys(chunks, 0)
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and sizes[out] <= max_output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GitError("git did not finish in time and was stopped")
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                chunks[key.fd].append(data[: max(0, max_output - sizes[key.fd])])
                sizes[key.fd] += len(data)
    finished = sizes[out] <= max_output
    if finished:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            raise GitError("git did not finish in time and was stopped") from exc
    return b"".join(chunks[out]), b"".join(chunks[err]), finished
