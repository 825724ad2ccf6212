"""A session's private temporary folder, `$SII_HOME/tmp/<session>-<random>` (mode 0700): command scripts,
captured output, job logs and the shell's state snapshot live there, never in the shared temp directory.
Each folder names its owner process; folders whose owner is gone are swept (their processes killed) and
removed when the next one is created. A watchdog process kills the session's processes when sii dies."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.caplog import Cap
from tools.processes import SESSION_MARK, identity, identity_alive, terminate

_ROOT_OF_CODE = str(Path(__file__).resolve().parent.parent)
_WATCHDOG = "import sys; sys.path.insert(0, sys.argv[1]); from tools.watchdog import main; main(sys.argv[2:])"
_YOUNG_S = 30.0  # a folder without its owner file yet may be being created right now
CLOSE_GRACE_S = 0.05  # how long the session's processes get to exit on SIGTERM when it closes


def scratch_root(home: Path | None = None) -> Path:
    """The folder that holds every session's private folder: `home` (sii's, from the session), else one in the
    system's temporary directory."""
    return home if home is not None else Path(tempfile.gettempdir()) / f"sii-{os.getuid()}"


def _private_directory(path: Path) -> Path:
    """Create `path` (mode 0700) or accept it when it is already a real directory of ours; refuse a link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(f"{path} is not a directory owned by this user; refusing to keep temporary files there")
    path.chmod(0o700)
    return path


def clean_orphans(root: Path) -> list[Path]:
    """Remove the folders under `root` whose owner process is gone, killing what still carries their marker."""
    removed = []
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            owner = (folder / "owner").read_text()
        except FileNotFoundError:
            if time.time() - folder.lstat().st_mtime < _YOUNG_S:
                continue
            owner = ""
        except OSError:
            continue
        if owner and identity_alive(owner):
            continue
        with contextlib.suppress(OSError):
            terminate([(SESSION_MARK, (folder / "mark").read_text().strip())])
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class Scratch:
    """One session's private folder, the marker its processes carry, and the watchdog that cleans up after it."""

    def __init__(self, session_id: str = "", home: Path | None = None) -> None:
        root = _private_directory(scratch_root(home))
        clean_orphans(root)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", session_id)[:64] or "session"
        self.path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        self.mark = secrets.token_hex(12)
        (self.path / "mark").write_text(self.mark)
        owner = identity(os.getpid())
        (self.path / "owner").write_text(owner)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, _ROOT_OF_CODE, str(self.path), self.mark, owner],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the user's Ctrl-C (SIGINT to sii's group) must not reach it
        )

    def env(self) -> dict[str, str]:
        """What the shell's environment must hold so that everything it starts can be found and killed."""
        return {SESSION_MARK: self.mark}

    def capture(self, fifo: Path, log: Path, cap: Cap) -> None:
        """Have the watchdog copy what is written into `fifo` into the capped `log`."""
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.write(f"cap\t{fifo}\t{log}\t{cap.head}\t{cap.tail}\n".encode())
        self._watchdog.stdin.flush()

    def close(self) -> None:
        """Kill everything the session started (a moment for SIGTERM first), stop the watchdog, remove the folder."""
        terminate([(SESSION_MARK, self.mark)], grace_s=CLOSE_GRACE_S)
        self._watchdog.kill()  # its last duty is done above: no need to wait for it to do it again
        self._watchdog.wait()
        if self._watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                self._watchdog.stdin.close()
        shutil.rmtree(self.path, ignore_errors=True)
