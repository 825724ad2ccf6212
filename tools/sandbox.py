"""Everything that runs on the model's behalf (the shell, sii's own git calls), inside bubblewrap (`bwrap`), when
asked. The sandbox is a boundary, not a convenience: its own pid, ipc, uts and cgroup namespaces (host processes
are neither visible nor killable, /proc is its own), no capabilities, a cleared environment, a private /tmp and
home, and of the host filesystem only the workspace (read-write, but its `.git` and `.sii` read-only) and the
system directories (read-only, /etc without its secrets). No network unless allowed. If bubblewrap cannot set all
of that up here, the sandbox refuses to start rather than run weaker. The file tools need no sandbox: their paths
are confined already."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOME = "/tmp/home"  # on the sandbox's own /tmp: a scratch home that dies with it
_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# The /etc entries programs need (users and groups for `id` and `ls -l`, name resolution, the loader, locale and
# time zone, certificates, alternatives): a list of what is shown, so secrets (shadow, gshadow, sudoers, ssh host
# keys, ssl/private, pip.conf and npmrc with tokens, ...) stay hidden whatever else the host keeps there.
_ETC = (
    "passwd",
    "group",
    "hostname",
    "hosts",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "protocols",
    "services",
    "networks",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "locale.alias",
    "locale.conf",
    "alternatives",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/ca-trust",
    "mime.types",
    "magic",
    "magic.mime",
    "os-release",
    "lsb-release",
    "debian_version",
    "inputrc",
    "terminfo",
    "gitconfig",
)
_PASSED_ENV = re.compile(r"TERM|LANG|LANGUAGE|LC_[A-Z_]+|TZ")
_ISOLATION = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--cap-drop",
    "ALL",
    "--clearenv",
)
_PROTECTED = (".git", ".sii")  # inside the workspace, read-only: hooks and config there run outside later


class SandboxError(RuntimeError):
    """The sandbox was asked for but cannot run here; the message says what to install or why."""


@dataclass(frozen=True)
class Sandbox:
    network: bool = False

    def command(
        self,
        workspace: Path,
        *,
        env: Mapping[str, str] | None = None,
        read_only: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        own_terminal: bool = False,
    ) -> list[str]:
        """The bwrap prefix that runs a program confined to `workspace`, in it, with a minimal environment plus
        `env`. `read_only` and `writable` are host directories of the caller's own (a shell's scratch) shown at
        the same paths. `own_terminal`: the program's terminal is a pty made for it alone, so it keeps it as its
        controlling terminal (what it could type into it with TIOCSTI only it reads); otherwise it starts a new
        session, so it cannot type into the terminal sii runs in."""
        binary = shutil.which("bwrap")
        if binary is None:
            raise SandboxError("the sandbox needs bubblewrap (`apt install bubblewrap`); or turn the sandbox off")
        isolation = [*_ISOLATION, *([] if self.network else ["--unshare-net"])]
        isolation += [] if own_terminal else ["--new-session"]
        _check_isolation(binary, tuple(isolation))
        root = str(workspace.resolve())
        # `env -i`: bwrap's own process (pid 1 inside, its /proc/1/environ readable there) gets no environment.
        prefix = [_env(), "-i", binary, *isolation, *_environment(env or {}), *_system_mounts()]
        prefix += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--dir", HOME]
        prefix += ["--bind", root, root]
        for name in _PROTECTED:
            inner = os.path.join(root, name)
            if _is_real(inner):  # a symlink would show its target, wherever it points, inside
                prefix += ["--ro-bind", inner, inner]
        # Last, so they hold even inside a workspace that contains them (a workspace of /tmp).
        for path in read_only:
            prefix += ["--ro-bind", str(path), str(path)]
        for path in writable:
            prefix += ["--bind", str(path), str(path)]
        # The sandbox's own root (where bwrap made the mount points) is read-only too: nothing lands outside
        # the workspace and /tmp, not even in the sandbox's scratch root.
        return [*prefix, "--remount-ro", "/", "--chdir", root]


def _environment(extra: Mapping[str, str]) -> list[str]:
    """Nothing of sii's environment (API keys, tokens, SSH agent, proxies) but the terminal and locale."""
    values = {name: value for name, value in os.environ.items() if _PASSED_ENV.fullmatch(name)}
    values |= {"PATH": PATH, "HOME": HOME, **extra}
    return [arg for name, value in values.items() for arg in ("--setenv", name, value)]


def _system_mounts() -> list[str]:
    """/usr and the /bin, /lib... links or directories read-only; /etc as the chosen entries only."""
    mounts: list[str] = []
    for name in _SYSTEM_DIRS:
        path = f"/{name}"
        if os.path.islink(path):
            mounts += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            mounts += ["--ro-bind", path, path]
    # The Python sii itself runs on (a pyenv or a virtual environment outside /usr), read-only, so `python` and
    # the tools installed with sii work inside; only those prefixes are shown, not the home they live in.
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        if os.path.isdir(prefix) and not any(prefix.startswith(f"/{name}/") for name in _SYSTEM_DIRS):
            mounts += ["--ro-bind", prefix, prefix]
    mounts += ["--dir", "/etc", "--symlink", "/proc/self/mounts", "/etc/mtab"]
    for name in _ETC:
        path = f"/etc/{name}"
        if os.path.exists(path):  # a link (localtime, resolv.conf) is shown as what it points to
            mounts += ["--ro-bind", path, path]
    return mounts


def _env() -> str:
    return shutil.which("env") or "/usr/bin/env"


def _is_real(path: str) -> bool:
    try:
        return not stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


@functools.cache
def _check_isolation(binary: str, isolation: tuple[str, ...]) -> None:
    """Once per process: can bubblewrap make these namespaces here (containers often forbid some)?"""
    mounts = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    probe = [_env(), "-i", binary, *isolation, *mounts]
    try:
        proc = subprocess.run([*probe, "true"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"bubblewrap could not be run: {exc}") from exc
    if proc.returncode != 0:
        raise SandboxError(
            f"bubblewrap cannot isolate the sandbox here ({proc.stderr.strip() or f'exit {proc.returncode}'}; "
            f"it needs: {' '.join(isolation)}). sii does not run a weaker sandbox: allow these namespaces "
            "(user namespaces, or a setuid bwrap) or turn the sandbox off"
        )


def host_pid(bwrap_pid: int, inner_pid: int) -> int | None:
    """The host's number for process `inner_pid` of the sandbox that `bwrap_pid` started: its pid namespace
    numbers its processes its own way, and a pid echoed from inside must never be signalled on the host as is."""
    namespace: str | None = None
    candidates: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(
                line.split(":\t", 1) for line in Path(entry.path, "status").read_text().splitlines() if ":\t" in line
            )
            if int(fields["PPid"]) == bwrap_pid and len(fields["NSpid"].split()) > 1:
                namespace = os.readlink(f"{entry.path}/ns/pid")  # the sandbox's init
            if fields["NSpid"].split()[-1] == str(inner_pid) and len(fields["NSpid"].split()) > 1:
                candidates.append(int(entry.name))
        except (OSError, KeyError, ValueError):
            continue  # gone meanwhile, or not ours to read
    for pid in candidates:
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                return pid
        except OSError:
            continue
    return None


def create_shared(path: Path) -> None:
    """Create the empty file the sandbox is to write (a job's log), replacing whatever it put at that name first:
    creating through a link it planted would create or touch a host file of its choosing."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a link itself goes, not what it points to
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def open_shared(path: Path) -> BinaryIO | None:
    """Open a file the sandbox may have written (a job's log) for reading, without following a link it put
    there (which would read a host file for it) or hanging on a fifo; None if there is no such regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # missing, or a link (ELOOP)
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
