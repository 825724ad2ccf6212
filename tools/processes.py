"""Process helpers: whether a process still runs, who owns a folder, and killing everything a session started.

Every process the shell starts carries a marker in its environment (`SII_SESSION_MARK`, and `SII_JOB_MARK` for
a background job), which survives setsid, double forks and process-group changes; killing by marker and by
process group together leaves nothing behind. Standard library only: the watchdog imports this."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

SESSION_MARK = "SII_SESSION_MARK"
JOB_MARK = "SII_JOB_MARK"
_SWEEP_ROUNDS = 50


def process_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (its parent may not have reaped it yet)."""
    if pid <= 0:  # 0 and -1 would name whole groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, which tells a live owner from a reused pid."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def identity(pid: int) -> str:
    """`pid:start-time`, written into a folder so a later run can tell whether its owner still runs."""
    return f"{pid}:{start_time(pid)}"


def identity_alive(owner: str) -> bool:
    pid, _, started = owner.strip().partition(":")
    if not pid.isdigit():
        return False
    return process_alive(int(pid)) and str(start_time(int(pid))) == started


def marked(variable: str, value: str) -> list[int]:
    """The pids whose environment holds `variable=value` (read from /proc, so only our own user's)."""
    needle = f"{variable}={value}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal `pid`'s process group when it leads one (so its children go too), else just `pid`. Never our own
    process or group, and never pid 0 or below (which would name our group or every process)."""
    if pid <= 1 or pid in (os.getpid(), os.getpgid(0)):
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def descendants(roots: Iterable[int]) -> set[int]:
    """`roots` and every live process below them (a subshell forked without exec carries no job marker, and
    without job control shares its group with bash: its parentage still gives it away)."""
    live = [pid for pid in roots if process_alive(pid)]
    if not live:
        return set()
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), live
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _targets(marks: Iterable[tuple[str, str]], leaders: Iterable[int]) -> list[int]:
    pids = {pid for variable, value in marks for pid in marked(variable, value)}
    return sorted(pids | descendants(leaders))


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Signal each pid's group too: a process that cleared its environment still shares its job's group."""
    groups = set()
    for pid in pids:
        signal_group(pid, sig)
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    for group in groups - {os.getpgid(0)}:
        if group > 1:
            with contextlib.suppress(OSError):
                os.killpg(group, sig)


def terminate(marks: Iterable[tuple[str, str]], leaders: Iterable[int] = (), grace_s: float = 0.0) -> None:
    """Stop every process carrying one of `marks`, and the groups and trees of `leaders`: SIGTERM, up to `grace_s`
    for them to exit, then SIGKILL until none is left (a process forking meanwhile is caught next round)."""
    marks, leaders = list(marks), list(leaders)
    if grace_s > 0:
        _signal_all(_targets(marks, leaders), signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _targets(marks, leaders) and time.monotonic() < deadline:
            time.sleep(0.01)
    for _ in range(_SWEEP_ROUNDS):
        pids = _targets(marks, leaders)
        if not pids:
            return
        _signal_all(pids, signal.SIGKILL)
        time.sleep(0.002)
