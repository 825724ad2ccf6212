"""Checkpoints in a shadow git repository: exact restores of changes made by a real shell, the user's .git left
alone, non-git directories, ignored files untouched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools import ToolContext
from tools.checkpoints import CheckpointError, CheckpointStore
from tools.default import default_registry


def shell(ctx: ToolContext, command: str) -> None:
    obs = default_registry().dispatch("run_shell", {"command": command}, ctx)
    assert obs.data["exit_code"] == 0, obs.text


def tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every file and directory outside .git with its kind, mode and content."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if name != ".git"]
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = ("dir", b"")
        for name in filenames:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = (oct(path.stat().st_mode), path.read_bytes())
    return found


def user_git_state(root: Path) -> list[str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout

    return [
        git("status", "--porcelain", "--untracked-files=all"),
        git("for-each-ref"),
        git("stash", "list"),
        git("ls-files", "--stage"),
        git("rev-parse", "HEAD"),
    ]


def test_restore_undoes_shell_changes_exactly_and_leaves_the_users_git_alone(ctx: ToolContext, tmp_path: Path) -> None:
    root = ctx.workspace
    shell(ctx, "echo stashed >> calc.py && git stash -q && echo staged > staged.txt && git add staged.txt")
    shell(ctx, "mkdir -p pkg/deep build && echo 'x = 1' > pkg/deep/mod.py && echo tool > run.sh && chmod +x run.sh")
    shell(ctx, "echo old-artifact > build/out.o")
    before_git, before_tree = user_git_state(root), tree(root)
    store = CheckpointStore(root, tmp_path / "store")
    first = store.snapshot("before the agent")
    assert first.files_changed == 5 and first.label == "before the agent"
    assert user_git_state(root) == before_git

    shell(ctx, "sed -i 's/a - b/a + b/' calc.py && rm -r pkg && chmod -x run.sh")
    shell(ctx, "mkdir -p new/dir && echo n > new/dir/n.txt && echo new-artifact > build/out.o")
    shell(ctx, "echo x > build/extra.o")
    assert store.diff(first.id).count("diff --git") == 4
    assert store.restore(first.id) == ["calc.py", "new/dir/n.txt", "pkg/deep/mod.py", "run.sh"]

    after_tree = tree(root)
    assert after_tree.pop("build/out.o") == (before_tree.pop("build/out.o")[0], b"new-artifact\n")
    assert after_tree.pop("build/extra.o")[1] == b"x\n"
    assert after_tree == before_tree
    assert user_git_state(root) == before_git
    assert "stash@{0}" in before_git[2] and "A  staged.txt" in before_git[0]


def test_snapshots_list_newest_first_and_skip_identical_trees(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a\n")
    store = CheckpointStore(plain, tmp_path / "store")
    assert store.list() == []
    one = store.snapshot("one")
    assert store.snapshot("nothing changed") == one
    (plain / "b.txt").write_text("b\n")
    (plain / "a.txt").write_text("A\n")
    two = store.snapshot("two\nlines")
    assert (two.label, two.files_changed) == ("two lines", 2)
    assert store.restore(one.id) == ["a.txt", "b.txt"]
    assert sorted(path.name for path in plain.iterdir()) == ["a.txt"] and (plain / "a.txt").read_text() == "a\n"
    three = store.snapshot("back to one")
    assert [c.label for c in store.list()] == ["back to one", "two lines", "one"]
    assert three.time >= one.time and three.id != one.id
    since_two = store.diff(two.id)
    assert "-A\n+a" in since_two and "deleted file mode" in since_two
    assert CheckpointStore(plain, tmp_path / "store").list() == store.list()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        store.restore("0" * 40)
    assert not (plain / ".git").exists()


def test_ignored_files_and_nested_repositories_are_left_alone(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "logs").mkdir(parents=True)
    (plain / ".gitignore").write_text("logs/\n*.tmp\n")
    (plain / "logs" / "run.log").write_text("1\n")
    (plain / "scratch.tmp").write_text("t\n")
    (plain / "src.py").write_text("print(1)\n")
    nested = plain / "vendor"
    nested.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=nested, check=True)
    (nested / "lib.py").write_text("v1\n")
    store = CheckpointStore(plain, tmp_path / "store")
    first = store.snapshot("start")
    assert first.files_changed == 2  # .gitignore and src.py
    (plain / "logs" / "run.log").write_text("2\n")
    (plain / "scratch.tmp").unlink()
    (nested / "lib.py").write_text("v2\n")
    (plain / "src.py").write_text("print(2)\n")
    assert store.restore(first.id) == ["src.py"]
    assert (plain / "src.py").read_text() == "print(1)\n"
    assert (plain / "logs" / "run.log").read_text() == "2\n" and not (plain / "scratch.tmp").exists()
    assert (nested / "lib.py").read_text() == "v2\n"
