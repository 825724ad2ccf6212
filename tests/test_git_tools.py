"""git_log, git_show, git_commit and git_branch on real repositories, read back through gitpython; and glob,
which lists files the way git sees them (.gitignore honoured)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import git

from tests.tooling import run
from tools import ToolContext
from tools.default import default_registry
from tools.search import MAX_FILES


def commit_file(root: Path, name: str, content: str, message: str) -> None:
    (root / name).write_text(content)
    subprocess.run(["git", "add", name], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, check=True)


def test_git_log_lists_one_line_per_commit(ctx: ToolContext) -> None:
    commit_file(ctx.workspace, "notes.md", "n\n", "add notes")
    commit_file(ctx.workspace, "calc.py", "def add(a, b):\n    return a + b\n", "fix add")
    lines = run(ctx, "git_log").text.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["fix add", "add notes", "initial"]
    assert re.fullmatch(r"[0-9a-f]{7,} \d{4}-\d{2}-\d{2} sii tests: fix add", lines[0])
    assert run(ctx, "git_log", max_count=1).text == lines[0]
    assert run(ctx, "git_log", path="calc.py").text.splitlines() == [lines[0], lines[2]]
    assert run(ctx, "git_log", ref="HEAD~1").text.splitlines() == lines[1:]
    assert run(ctx, "git_log", ref="no-such-ref").is_error


def test_git_show_gives_header_and_capped_diff(ctx: ToolContext) -> None:
    commit_file(ctx.workspace, "big.txt", "".join(f"line {i}\n" for i in range(5000)), "big file")
    shown = run(ctx, "git_show").text
    assert shown.startswith("commit ") and "Author:     sii tests <tests@sii.invalid>" in shown
    assert "    big file" in shown and "+line 0\n" in shown and "+line 4999" in shown
    assert "elided" in shown and len(shown) < 21_000
    first = run(ctx, "git_show", ref="HEAD~1").text
    assert "    initial" in first and "+    return a - b" in first
    missing = run(ctx, "git_show", ref="nope")
    assert missing.is_error and "bad revision 'nope'" in missing.text


def test_git_commit_stages_everything_and_adds_the_session_trailer(ctx: ToolContext) -> None:
    (ctx.workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (ctx.workspace / "new.py").write_text("x = 1\n")
    (ctx.workspace / "build").mkdir()
    (ctx.workspace / "build" / "out.o").write_text("ignored\n")
    obs = run(ctx, "git_commit", message="Fix add\n\nIt subtracted.")
    assert not obs.is_error and obs.text.startswith("Committed ") and "Fix add (2 files, +2 -1)" in obs.text
    repo = git.Repo(ctx.workspace)
    head = repo.head.commit
    assert head.hexsha == obs.data["sha"] and head.summary == "Fix add"
    assert head.trailers_dict == {"Sii-Session": ["sess-42"]}
    assert "It subtracted." in head.message
    assert sorted(head.stats.files) == ["calc.py", "new.py"]
    assert repo.git.status("--porcelain") == ""
    empty = run(ctx, "git_commit", message="again")
    assert empty.is_error and "nothing to commit" in empty.text
    assert repo.head.commit == head


def test_the_session_trailer_joins_a_trailer_block_the_message_ends_with(ctx: ToolContext) -> None:
    (ctx.workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    signed = "Fix add\n\nSigned-off-by: A Person <a@sii.invalid>"
    assert not run(ctx, "git_commit", message=signed).is_error
    head = git.Repo(ctx.workspace).head.commit
    assert head.message.rstrip("\n").endswith("Signed-off-by: A Person <a@sii.invalid>\nSii-Session: sess-42")
    assert head.trailers_dict == {"Signed-off-by": ["A Person <a@sii.invalid>"], "Sii-Session": ["sess-42"]}
    (ctx.workspace / "calc.py").write_text("x = 1\n")
    assert not run(ctx, "git_commit", message="Subject: looks like a trailer").is_error
    assert git.Repo(ctx.workspace).head.commit.message.rstrip("\n") == (
        "Subject: looks like a trailer\n\nSii-Session: sess-42"
    )


def test_git_commit_only_the_given_paths(ctx: ToolContext) -> None:
    (ctx.workspace / "calc.py").unlink()
    (ctx.workspace / "a.txt").write_text("a\n")
    (ctx.workspace / "b.txt").write_text("b\n")
    obs = run(ctx, "git_commit", message="a and the deletion", paths=["a.txt", "calc.py"])
    assert not obs.is_error, obs.text
    repo = git.Repo(ctx.workspace)
    assert sorted(repo.head.commit.stats.files) == ["a.txt", "calc.py"]
    assert repo.git.status("--porcelain") == "?? b.txt"
    outside = run(ctx, "git_commit", message="x", paths=["../elsewhere"])
    assert outside.is_error and "outside the workspace" in outside.text


def test_git_branch_creates_switches_and_refuses_to_overwrite(ctx: ToolContext) -> None:
    repo = git.Repo(ctx.workspace)
    created = run(ctx, "git_branch", name="feature", create=True, switch=True)
    assert not created.is_error and repo.active_branch.name == "feature"
    commit_file(ctx.workspace, "calc.py", "def add(a, b):\n    return a + b\n", "fix on feature")
    assert not run(ctx, "git_branch", name="main").is_error and repo.active_branch.name == "main"
    only_created = run(ctx, "git_branch", name="spare", create=True, switch=False)
    assert "Created branch spare" in only_created.text and repo.active_branch.name == "main"
    assert "already exists" in run(ctx, "git_branch", name="spare", create=True).text
    (ctx.workspace / "calc.py").write_text("local edit\n")
    refused = run(ctx, "git_branch", name="feature")
    assert refused.is_error and "could not switch to feature" in refused.text
    assert "would be overwritten" in refused.text and "calc.py" in refused.text
    assert repo.active_branch.name == "main" and (ctx.workspace / "calc.py").read_text() == "local edit\n"
    assert run(ctx, "git_branch", name="ghost").is_error
    assert run(ctx, "git_branch", name="feature", switch=False).is_error


def test_mutating_git_tools_need_approval() -> None:
    registry = default_registry()
    mutates = {name: registry.get(name).mutates for name in ("git_log", "git_show", "git_commit", "git_branch")}
    assert mutates == {"git_log": False, "git_show": False, "git_commit": True, "git_branch": True}


def test_glob_lists_newest_first_and_honours_gitignore(ctx: ToolContext) -> None:
    root = ctx.workspace
    for age, name in enumerate(["pkg/new.py", "pkg/sub/mid.py", "old.py", "build/gen.py", ".hidden/h.py", "x.txt"]):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))
    os.utime(root / "calc.py", (0, 0))
    (root / ".gitignore").write_text("build/\n*.txt\n")
    listed = run(ctx, "glob", pattern="**/*.py")
    assert listed.text.splitlines() == ["pkg/new.py", "pkg/sub/mid.py", "old.py", ".hidden/h.py", "calc.py"]
    assert run(ctx, "glob", pattern="*.py", path="pkg").text.splitlines() == ["pkg/new.py", "pkg/sub/mid.py"]
    assert run(ctx, "glob", pattern="pkg/*.py").text == "pkg/new.py"
    assert run(ctx, "glob", pattern="*.{txt,md}").text == "No files match '*.{txt,md}'."
    assert run(ctx, "glob", pattern="*.py", path="calc.py").is_error
    assert not default_registry().get("glob").mutates


def test_glob_caps_long_listings(ctx: ToolContext) -> None:
    many = ctx.workspace / "many"
    many.mkdir()
    for index in range(MAX_FILES + 5):
        (many / f"f{index}.txt").write_text("")
    listed = run(ctx, "glob", pattern="many/*.txt")
    assert listed.data["count"] == MAX_FILES + 5
    assert len(listed.text.splitlines()) == MAX_FILES + 1 and "[5 more files not shown" in listed.text


def test_refs_cannot_smuggle_options(ctx: ToolContext) -> None:
    smuggled = [("git_show", {"ref": "--output=x"}), ("git_log", {"ref": "-p"}), ("git_branch", {"name": "-D"})]
    for tool, arguments in smuggled:
        obs = run(ctx, tool, **arguments)
        assert obs.is_error and "refused" in obs.text
    assert not (ctx.workspace / "x").exists()
