"""The files of a git working tree, as git sees them: one place for the `git ls-files` call the tools share."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_listed_files(root: Path) -> list[str] | None:
    """Files under `root` that git tracks or would track (untracked but not ignored), relative to `root`;
    None outside a repository. Tracked files deleted from disk are listed too: callers check when it matters."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return [path for path in os.fsdecode(listed.stdout).split("\0") if path]
