"""The shell inside bubblewrap (`bwrap`), when asked: the whole filesystem read-only except the workspace and
/tmp, and no network unless allowed. The file tools need no sandbox: their paths are confined already."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


class SandboxError(RuntimeError):
    """The sandbox was asked for but cannot run here; the message says what to install."""


@dataclass(frozen=True)
class Sandbox:
    network: bool = False

    def command(self, workspace: Path) -> list[str]:
        """The bwrap prefix that runs a program confined to `workspace`."""
        binary = shutil.which("bwrap")
        if binary is None:
            raise SandboxError("the sandbox needs bubblewrap (`apt install bubblewrap`); or turn the sandbox off")
        root = str(workspace.resolve())
        prefix = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", "/tmp", "/tmp"]
        prefix += ["--bind", root, root, "--die-with-parent"]
        return prefix if self.network else [*prefix, "--unshare-net"]
