"""Checkpoints: snapshots of the whole working tree in a shadow git repository, so any change (by the edit tools
or by shell commands) can be rolled back. The shadow repository has its own GIT_DIR, index and refs, and only
ever reads the workspace's files: the user's .git, index, refs and stash are never touched. It works the same
in directories that are not git repositories."""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from pathlib import Path

from tools.gitcmd import GitError, GitResult, git
from tools.text import clip

_REF = "refs/heads/checkpoints"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "sii checkpoints",
    "GIT_AUTHOR_EMAIL": "checkpoints@sii.invalid",
    "GIT_COMMITTER_NAME": "sii checkpoints",
    "GIT_COMMITTER_EMAIL": "checkpoints@sii.invalid",
}
# Shadow-repository settings that keep snapshots byte-exact and free of the user's hooks, signing and filters.
_CONFIG = {
    "core.autocrlf": "false",
    "core.safecrlf": "false",
    "core.fsmonitor": "false",
    "core.hooksPath": "/dev/null",
    "commit.gpgSign": "false",
    "gc.auto": "0",
}
_FILES_CHANGED = "files-changed: "
TIMEOUT = 300.0  # seconds for one git call on the shadow repository (`git add --all` of a large tree)


class CheckpointError(Exception):
    """A checkpoint that does not exist, or git failing on the shadow repository."""


@dataclass(frozen=True)
class Checkpoint:
    id: str
    label: str
    time: float
    files_changed: int


class CheckpointStore:
    """Snapshots of `workspace` kept in `store_dir`. Files ignored by the workspace's .gitignore files (and by
    its .git/info/exclude) are neither snapshotted nor touched by restore; nor are `.git` and nested repositories."""

    def __init__(self, workspace: Path, store_dir: Path) -> None:
        self.workspace = workspace.resolve()
        self.store_dir = store_dir.resolve()
        # The helper drops inherited GIT_* variables (a hook's GIT_INDEX_FILE would point at the user's repository).
        self._env = {**_IDENTITY, "GIT_DIR": str(self.store_dir), "GIT_WORK_TREE": str(self.workspace)}
        if not (self.store_dir / "HEAD").exists():
            self._init()

    def _init(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet")
        self._git("symbolic-ref", "HEAD", _REF)
        for key, value in _CONFIG.items():
            self._git("config", key, value)

    def _run(self, *args: str) -> GitResult:
        """git on the shadow repository, reading neither the user's global config nor the workspace's programs:
        the workspace's .gitattributes may name filters, but no config here defines one (and any would be off)."""
        try:
            return git(args, self.workspace, env=self._env, user_config=False, timeout=TIMEOUT)
        except GitError as exc:
            raise CheckpointError(f"git {args[0]} failed: {exc}") from exc

    def _git(self, *args: str) -> str:
        result = self._run(*args)
        if result.exit_code != 0 or result.truncated:
            raise CheckpointError(f"git {args[0]} failed: {result.error or 'its output was too large'}")
        return os.fsdecode(result.stdout)

    def _stage_workspace(self) -> None:
        """Make the shadow index mirror the workspace (new, changed and deleted files; ignored ones left out)."""
        user_exclude = self.workspace / ".git" / "info" / "exclude"
        excludes = user_exclude.read_bytes() if user_exclude.is_file() else b""
        self._write_exclude(excludes)
        # git cannot snapshot a nested repository's files (it would record a submodule link, or fail if the
        # repository has no commit yet), so nested repositories are left out, like ignored files.
        untracked = self._git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
        nested = [path for path in untracked if path.endswith("/")]
        if nested:
            self._write_exclude(excludes + b"\n" + "".join(f"/{path}\n" for path in nested).encode())
        self._git("add", "--all")

    def _write_exclude(self, content: bytes) -> None:
        exclude = self.store_dir / "info" / "exclude"
        if not exclude.exists() or exclude.read_bytes() != content:
            exclude.parent.mkdir(exist_ok=True)
            exclude.write_bytes(content)

    def _head(self) -> str | None:
        return self._run("rev-parse", "--verify", "--quiet", _REF).text.strip() or None

    def _resolve(self, checkpoint_id: str) -> str:
        proc = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{checkpoint_id}^{{commit}}")
        if proc.exit_code != 0 or not checkpoint_id.strip():
            raise CheckpointError(f"no checkpoint {checkpoint_id!r}")
        return proc.text.strip()

    def snapshot(self, label: str) -> Checkpoint:
        """Record the working tree as it is now; if nothing changed since the last checkpoint, return that one."""
        self._stage_workspace()
        tree = self._git("write-tree").strip()
        parent = self._head()
        if parent is not None and self._git("rev-parse", f"{parent}^{{tree}}").strip() == tree:
            return self._read(parent)
        base = f"{parent}^{{tree}}" if parent else self._git("mktree").strip()
        changed = len(self._git("diff-tree", "-r", "--name-only", "-z", base, tree).split("\0")) - 1
        subject = " ".join(clip(label, 72).split()) or "checkpoint"  # a subject's length, never half a secret
        message = f"{subject}\n\n{_FILES_CHANGED}{changed}\n"
        parents = ["-p", parent] if parent else []
        commit = self._git("commit-tree", tree, *parents, "-m", message).strip()
        self._git("update-ref", _REF, commit)
        return self._read(commit)

    def list(self) -> list[Checkpoint]:
        """Every checkpoint, newest first (restoring an old one does not drop the newer ones)."""
        if self._head() is None:
            return []
        out = self._git("log", "-z", "--format=%H%x1f%ct%x1f%B", _REF)
        return [_parse(record) for record in out.split("\0") if record.strip()]

    def changes(self, checkpoint_id: str) -> dict[str, str]:
        """What restoring `checkpoint_id` would do, by path: `restore` (changed since), `bring back` (deleted
        since) or `delete` (created since). Nothing is touched."""
        commit = self._resolve(checkpoint_id)
        self._stage_workspace()
        out = self._git("diff", "--cached", "--name-status", "--no-renames", "-z", commit).split("\0")
        actions = {"M": "restore", "T": "restore", "D": "bring back", "A": "delete"}
        # `diff --cached COMMIT` compares the commit with the workspace: A means the workspace has it, the snapshot not.
        return {path: actions.get(status[:1], "restore") for status, path in zip(out[0::2], out[1::2], strict=False)}

    def restore(self, checkpoint_id: str) -> builtins.list[str]:  # `list` in this class is the method above
        """Make the workspace exactly the snapshot: changed files rewritten, deleted ones brought back, files
        created since removed. Ignored files are untouched. Returns the paths that changed."""
        changed = self.changes(checkpoint_id)
        self._git("read-tree", "-u", "--reset", self._resolve(checkpoint_id))
        return sorted(changed)

    def diff(self, checkpoint_id: str) -> str:
        """What changed in the workspace since the checkpoint, as a unified diff."""
        commit = self._resolve(checkpoint_id)
        self._stage_workspace()
        return self._git("diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", commit)

    def _read(self, commit: str) -> Checkpoint:
        return _parse(self._git("log", "-1", "--format=%H%x1f%ct%x1f%B", commit))


def _parse(record: str) -> Checkpoint:
    sha, commit_time, message = record.strip("\n").split("\x1f", 2)
    label, _, body = message.partition("\n")
    counts = [line.removeprefix(_FILES_CHANGED) for line in body.splitlines() if line.startswith(_FILES_CHANGED)]
    return Checkpoint(id=sha, label=label, time=float(commit_time), files_changed=int(counts[0]) if counts else 0)
