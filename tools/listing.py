"""The files of a git working tree, as git sees them: one place for the `git ls-files` call the tools share."""

from __future__ import annotations

import os
from pathlib import Path

from tools.gitcmd import GitError, git


def git_listed_files(root: Path, workspace: Path | None = None) -> list[str] | None:
    """Files under `root` that git tracks or would track (untracked but not ignored), relative to `root`;
    None outside a repository. git looks for the repository no further up than `workspace` (default: `root`
    itself), so a workspace inside someone else's repository is listed as a plain directory. Tracked files deleted
    from disk are listed too: callers check when it matters."""
    try:
        listed = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root, boundary=workspace or root)
    except GitError:
        return None
    if listed.exit_code != 0 and not listed.truncated:
        return None
    paths = os.fsdecode(listed.stdout).split("\0")
    return [path for path in (paths[:-1] if listed.truncated else paths) if path]  # a cut list ends mid-path
