"""Attacks on sii's own git calls, on real repositories: a hostile `.git/config` (and the files it includes,
`.gitattributes`, hooks) must run nothing through any tool, read-only or not; no argument from the model may reach
git as an option; git looks no further up than the workspace; the sandbox contains git; every call is bounded."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tooling import run
from tools import ToolContext
from tools.checkpoints import CheckpointStore
from tools.gitcmd import GitError, git
from tools.sandbox import Sandbox

HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout", "reference-transaction")


def sh(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def program(marks: Path, name: str, then: str = "cat") -> str:
    """A config value that, if git ever runs it, leaves `marks/name` behind and then does `then`."""
    return f"echo ran >> {shlex.quote(str(marks / name))}; {then}"


def script(directory: Path, name: str, marks: Path, then: str = "exit 0") -> str:
    """An executable that leaves `marks/name` behind: for hooks, and for keys git runs without a shell."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{program(marks, name, then)}\n")
    path.chmod(0o755)
    return str(path)


def ran(marks: Path) -> list[str]:
    return sorted(os.listdir(marks))


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    directory = tmp_path / "marks"
    directory.mkdir()
    return directory


@pytest.fixture
def hostile(ctx: ToolContext) -> Path:
    """The workspace with history the tools will look at: a.txt differs between main and `other` (a switch writes
    it), b.txt is the same on both and touched (same size, new mtime: git must read it again through filters), c.txt
    is changed in the work tree (there is a diff to show)."""
    root = ctx.workspace
    sh(root, "config", "user.name", "sii tests")
    sh(root, "config", "user.email", "tests@sii.invalid")
    (root / "a.txt").write_text("one\n")
    (root / "b.txt").write_text("same\n")
    (root / "c.txt").write_text("old\n")
    sh(root, "add", "a.txt", "b.txt", "c.txt")
    sh(root, "commit", "-q", "-m", "texts")
    sh(root, "branch", "other")
    (root / "a.txt").write_text("two\n")
    sh(root, "commit", "-q", "-am", "a changes")
    os.utime(root / "b.txt", (1_000_000, 1_000_000))
    (root / "c.txt").write_text("new\n")
    return root


def plant_fsmonitor(root: Path, marks: Path) -> None:
    sh(root, "config", "core.fsmonitor", program(marks, "fsmonitor", "exit 1"))


def plant_textconv(root: Path, marks: Path) -> None:
    sh(root, "config", "diff.x.textconv", program(marks, "textconv"))
    (root / ".gitattributes").write_text("*.txt diff=x\n")


def plant_external_diff(root: Path, marks: Path) -> None:
    sh(root, "config", "diff.external", program(marks, "diff.external", "true"))
    sh(root, "config", "diff.x.command", program(marks, "diff.x.command", "true"))
    (root / ".gitattributes").write_text("*.txt diff=x\n")


def plant_filters(root: Path, marks: Path) -> None:
    """Drivers under an ordinary name, a name holding '=' (a `-c name=value` override would split it) and the
    empty name, each with clean, smudge and a long-running process filter."""
    attributes = []
    for index, name in enumerate(["x", "a=b", ""]):
        for kind in ("clean", "smudge"):
            sh(root, "config", f"filter.{name}.{kind}", program(marks, f"filter{index}.{kind}"))
        attributes.append(f"{'ab'[index % 2]}.txt filter={name}" if index < 2 else f"*.py filter={name}")
    sh(root, "config", "filter.p.process", program(marks, "filter.process", "exit 1"))
    attributes.append("calc.py filter=p")
    (root / ".gitattributes").write_text("\n".join(attributes) + "\n")


def plant_include(root: Path, marks: Path) -> None:
    included = root.parent / "included.inc"
    included.write_text(f"[core]\n\tfsmonitor = {program(marks, 'included.fsmonitor', 'exit 1')}\n")
    sh(root, "config", "include.path", str(included))
    sh(root, "config", f"includeIf.gitdir:{root}/.path", str(included))


def plant_hooks(root: Path, marks: Path) -> None:
    for name in (*HOOKS, "post-index-change", "pre-auto-gc"):
        script(root / ".git" / "hooks", name, marks)
    sh(root, "config", "gc.auto", "1")  # a commit then starts `git gc --auto`, and gc its hook


def plant_hooks_path(root: Path, marks: Path) -> None:
    for name in (*HOOKS, "post-index-change", "pre-auto-gc"):
        script(root.parent / "shared-hooks", name, marks)
    sh(root, "config", "core.hooksPath", str(root.parent / "shared-hooks"))


def plant_programs(root: Path, marks: Path) -> None:
    """Every other key that names a program, and a commit that carries a signature so verifying it would run gpg."""
    programs = root.parent / "programs"
    for key in ("core.pager", "pager.log", "pager.show", "pager.status", "pager.diff", "core.editor"):
        sh(root, "config", key, script(programs, key, marks, "cat"))
    for key in ("gpg.program", "gpg.openpgp.program", "gpg.ssh.program", "core.askPass", "credential.helper"):
        sh(root, "config", key, script(programs, key, marks, "exit 1"))
    sh(root, "config", "log.showSignature", "true")
    body = sh(root, "cat-file", "commit", "HEAD").split("\n\n", 1)
    signature = "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQ==\n -----END PGP SIGNATURE-----"
    signed = f"{body[0]}\n{signature}\n\n{body[1]}"
    sha = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=root, input=signed, text=True, capture_output=True
    ).stdout.strip()
    sh(root, "update-ref", "refs/heads/main", sha)


def plant_trailer_command(root: Path, marks: Path) -> None:
    """`git commit --trailer` (and interpret-trailers) runs every configured trailer command."""
    sh(root, "config", "trailer.sign.command", program(marks, "trailer.command", "echo x"))
    sh(root, "config", "trailer.sign.cmd", program(marks, "trailer.cmd", "echo x"))


PLANTS: dict[str, Callable[[Path, Path], None]] = {
    "fsmonitor": plant_fsmonitor,
    "textconv": plant_textconv,
    "external diff": plant_external_diff,
    "filters": plant_filters,
    "include.path": plant_include,
    "hooks": plant_hooks,
    "core.hooksPath": plant_hooks_path,
    "programs": plant_programs,
    "trailer command": plant_trailer_command,
}

# Every tool that runs git, with ordinary arguments (and the one extra switch an external diff needs).
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("git_status", {}),
    ("git_diff", {}),
    ("git_diff", {"staged": True}),
    ("git_diff", {"ref": "HEAD~1"}),
    ("git_diff", {"ref": "--ext-diff"}),
    ("git_log", {}),
    ("git_log", {"path": "a.txt", "max_count": 5}),
    ("git_show", {}),
    ("git_show", {"ref": "HEAD~1"}),
    ("git_show", {"ref": "HEAD:a.txt"}),
    ("list_directory", {}),
    ("list_directory", {"path": "."}),
    ("code_map", {}),
    ("find_symbol", {"name": "add"}),
]
MUTATING: list[tuple[str, dict[str, Any]]] = [
    ("git_branch", {"name": "spare", "create": True, "switch": False}),
    ("git_branch", {"name": "other"}),
    ("git_commit", {"message": "on other"}),
    ("git_branch", {"name": "fresh", "create": True, "switch": True}),
]


def tree_digest(root: Path) -> dict[str, bytes]:
    """Every file under `root`, .git included, with its content: what a read-only call must leave as it is."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
def test_a_hostile_repository_runs_nothing_through_any_tool(
    plant: str, ctx: ToolContext, hostile: Path, marks: Path, tmp_path: Path
) -> None:
    PLANTS[plant](hostile, marks)
    before = tree_digest(hostile)
    for tool, arguments in CALLS:
        run(ctx, tool, **arguments)
    assert ran(marks) == [], f"read-only tools ran {ran(marks)}"
    assert tree_digest(hostile) == before, "a read-only tool wrote into the repository"
    (hostile / "new.txt").write_text("to commit\n")
    for tool, arguments in MUTATING:
        obs = run(ctx, tool, **arguments)
        assert not obs.is_error or tool == "git_commit", (tool, obs.text)
    store = CheckpointStore(hostile, tmp_path / "store")
    first = store.snapshot("start")
    (hostile / "b.txt").write_text("changed\n")
    store.diff(first.id)
    store.restore(first.id)
    assert ran(marks) == [], f"git ran {ran(marks)}"


def test_hooks_run_on_commit_and_switch_only_when_the_user_allows_them(
    ctx: ToolContext, hostile: Path, marks: Path
) -> None:
    plant_hooks(hostile, marks)
    (hostile / "b.txt").write_text("changed\n")
    assert not run(ctx, "git_commit", message="quiet", paths=["b.txt"]).is_error
    assert ran(marks) == []
    ctx.git_hooks = True
    (hostile / "b.txt").write_text("changed again\n")
    assert not run(ctx, "git_commit", message="hooked", paths=["b.txt"]).is_error
    assert {"pre-commit", "commit-msg", "post-commit"} <= set(ran(marks))
    assert not run(ctx, "git_branch", name="other").is_error
    assert "post-checkout" in ran(marks)
    for name in os.listdir(marks):
        (marks / name).unlink()
    run(ctx, "git_status")
    run(ctx, "git_diff")
    assert ran(marks) == [], "hooks are for commit and switch, never for the read-only tools"


def test_a_commit_runs_no_trailer_command(ctx: ToolContext, hostile: Path, marks: Path) -> None:
    """The session trailer is written into the message: `--trailer` would run (and add) the configured ones."""
    plant_trailer_command(hostile, marks)
    obs = run(ctx, "git_commit", message="plain")
    assert not obs.is_error, obs.text
    assert sh(hostile, "log", "-1", "--format=%B").strip() == "plain\n\nSii-Session: sess-42"
    assert ran(marks) == []


def test_a_filter_from_the_users_own_config_still_runs_on_commit(
    ctx: ToolContext, hostile: Path, marks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git-lfs lives in ~/.gitconfig: neutralising it on commit would commit the real files instead of pointers.
    The same name in the repository's config makes it the repository's, so it is turned off again."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[filter "lfs"]\n\tclean = {program(marks, "lfs.clean")}\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (hostile / ".gitattributes").write_text("b.txt filter=lfs\n")
    run(ctx, "git_status")
    run(ctx, "git_diff")
    assert ran(marks) == []
    assert not run(ctx, "git_commit", message="with lfs", paths=["b.txt", ".gitattributes"]).is_error
    assert ran(marks) == ["lfs.clean"]
    (marks / "lfs.clean").unlink()
    sh(hostile, "config", "filter.lfs.smudge", program(marks, "repo.smudge"))
    (hostile / "b.txt").write_text("again\n")
    assert not run(ctx, "git_commit", message="repo lfs", paths=["b.txt"]).is_error
    assert ran(marks) == []


def test_checkpoints_run_neither_the_workspace_filters_nor_the_users_programs(
    tmp_path: Path, marks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = [
        f'[filter "x"]\n\tclean = {program(marks, "clean")}\n\tsmudge = {program(marks, "smudge")}',
        f'[diff "x"]\n\ttextconv = {program(marks, "textconv")}',
        f"[diff]\n\texternal = {program(marks, 'external', 'true')}",
        f"[core]\n\tfsmonitor = {program(marks, 'fsmonitor', 'exit 1')}\n\thooksPath = {tmp_path / 'hooks'}",
    ]
    (home / ".gitconfig").write_text("\n".join(config) + "\n")
    script(tmp_path / "hooks", "reference-transaction", marks)
    monkeypatch.setenv("HOME", str(home))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".gitattributes").write_text("* filter=x diff=x\n")
    (plain / "a.txt").write_text("a\n")
    store = CheckpointStore(plain, tmp_path / "store")
    first = store.snapshot("one")
    (plain / "a.txt").write_text("b\n")
    assert "-a\n+b" in store.diff(first.id)
    assert store.restore(first.id) == ["a.txt"]
    assert (plain / "a.txt").read_text() == "a\n"
    assert ran(marks) == []


def test_lazy_fetches_and_transports_are_closed(ctx: ToolContext, marks: Path) -> None:
    """A 'partial clone' whose blob is missing: showing it would fetch through upload-pack, ssh or ext::."""
    root = ctx.workspace
    blob = sh(root, "rev-parse", "HEAD:calc.py").strip()
    (root / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    sh(root, "config", "core.repositoryformatversion", "1")
    sh(root, "config", "extensions.partialClone", "origin")
    sh(root, "config", "remote.origin.promisor", "true")
    for url, key, value in [
        (f"file://{root.parent}/none", "remote.origin.uploadpack", program(marks, "uploadpack", "exit 1")),
        ("ssh://example.invalid/repo", "core.sshCommand", program(marks, "ssh", "exit 1")),
        (f"ext::sh -c {shlex.quote(program(marks, 'ext', 'exit 1'))}", "protocol.ext.allow", "always"),
    ]:
        sh(root, "config", "remote.origin.url", url)
        sh(root, "config", key, value)
        sh(root, "config", "protocol.file.allow", "always")
        assert run(ctx, "git_show").is_error
        run(ctx, "git_diff", ref="HEAD~0")
    assert ran(marks) == []


def test_a_submodules_own_config_runs_nothing(ctx: ToolContext, marks: Path) -> None:
    root = ctx.workspace
    inner = root / "inner"
    inner.mkdir()
    sh(inner, "init", "-q", "-b", "main")
    (inner / "f.txt").write_text("x\n")
    sh(inner, "add", "f.txt")
    sh(inner, "commit", "-q", "-m", "inner")
    sh(root, "add", "inner")
    sh(root, "commit", "-q", "-m", "with a submodule")
    sh(inner, "config", "filter.s.clean", program(marks, "submodule.clean"))
    (inner / ".gitattributes").write_text("* filter=s\n")
    for tool in ("git_status", "git_diff"):
        os.utime(inner / "f.txt", (2_000_000, 2_000_000))
        assert not run(ctx, tool).is_error
    assert ran(marks) == []


def test_a_work_tree_elsewhere_is_refused(ctx: ToolContext, tmp_path: Path) -> None:
    """core.worktree in the repository's config would make a switch or a commit work on another directory."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine\n")
    sh(ctx.workspace, "branch", "other")
    sh(ctx.workspace, "config", "core.worktree", str(victim))
    for tool, arguments in [("git_status", {}), ("git_branch", {"name": "other"}), ("git_commit", {"message": "x"})]:
        obs = run(ctx, tool, **arguments)
        assert obs.is_error and "not the workspace" in obs.text, (tool, obs.text)
    assert sorted(os.listdir(victim)) == ["keep.txt"]


INJECTIONS: list[tuple[str, dict[str, Any]]] = [
    ("git_diff", {"ref": "--output=PWNED"}),
    ("git_diff", {"ref": "--ext-diff"}),
    ("git_diff", {"ref": "-c"}),
    ("git_diff", {"ref": "-oPWNED"}),
    ("git_diff", {"ref": "HEAD --output=PWNED"}),
    ("git_diff", {"ref": "HEAD\n--output=PWNED"}),
    ("git_diff", {"ref": ["--output=PWNED"]}),
    ("git_diff", {"ref": "--no-index"}),
    ("git_diff", {"path": ["--output=PWNED"]}),
    ("git_show", {"ref": "--output=PWNED"}),
    ("git_show", {"ref": "HEAD --output=PWNED"}),
    ("git_show", {"ref": "HEAD\t--output=PWNED"}),
    ("git_show", {"ref": ["--output=PWNED"]}),
    ("git_show", {"ref": "HEAD\r\n--ext-diff"}),
    ("git_log", {"ref": "--output=PWNED"}),
    ("git_log", {"ref": "HEAD --output=PWNED"}),
    ("git_log", {"ref": "--exec=touch PWNED"}),
    ("git_log", {"ref": ["-p", "--output=PWNED"]}),
    ("git_log", {"ref": "HEAD\x00--output=PWNED"}),
    ("git_log", {"max_count": "1 --output=PWNED"}),
    ("git_log", {"max_count": float("inf")}),
    ("git_log", {"max_count": [1, "--output=PWNED"]}),
    ("git_branch", {"name": "-D"}),
    ("git_branch", {"name": "--force"}),
    ("git_branch", {"name": "--upload-pack=touch PWNED", "create": True}),
    ("git_branch", {"name": "HEAD --output=PWNED", "create": True}),
    ("git_branch", {"name": "x\n-D", "create": True}),
    ("git_branch", {"name": ["-D", "main"]}),
    ("git_branch", {"name": "a..b", "create": True}),
    ("git_branch", {"name": "-c", "create": True}),
    ("git_commit", {"message": "m", "paths": "calc.py"}),
    ("git_commit", {"message": ["--amend"]}),
    ("git_commit", {"message": "m\x00--amend"}),
    ("git_commit", {"message": "m", "paths": [["--output=PWNED"]]}),
]


@pytest.mark.parametrize(("tool", "arguments"), INJECTIONS, ids=[f"{t}-{a!r}" for t, a in INJECTIONS])
def test_no_argument_from_the_model_reaches_git_as_an_option(
    tool: str, arguments: dict[str, Any], ctx: ToolContext, marks: Path, tmp_path: Path
) -> None:
    root = ctx.workspace
    target = tmp_path / "PWNED"
    sh(root, "config", "diff.external", program(marks, "diff.external", "true"))
    arguments = {
        key: [v.replace("PWNED", str(target)) if isinstance(v, str) else v for v in value]
        if isinstance(value, list)
        else (value.replace("PWNED", str(target)) if isinstance(value, str) else value)
        for key, value in arguments.items()
    }
    (root / "calc.py").write_text("changed\n")
    refs = sh(root, "for-each-ref")
    obs = run(ctx, tool, **arguments)
    # Refused by the tool's own checks, or (a wrong type) by the dispatcher's schema check before the tool runs.
    assert obs.is_error and ("refused" in obs.text or "invalid arguments" in obs.text), obs.text
    assert not target.exists() and not list(root.glob("*PWNED*")) and ran(marks) == []
    assert sh(root, "for-each-ref") == refs and (root / "calc.py").read_text() == "changed\n"


def test_a_subfolder_of_another_repository_is_not_a_repository(workspace: Path) -> None:
    sub = workspace / "sub"
    sub.mkdir()
    (sub / "notes.md").write_text("n\n")
    (sub / "junk.log").write_text("j\n")
    (workspace / ".gitignore").write_text("*.log\n")
    context = ToolContext(workspace=sub)
    try:
        for tool, arguments in [
            ("git_log", {}),
            ("git_show", {}),
            ("git_status", {}),
            ("git_diff", {}),
            ("git_commit", {"message": "into the parent"}),
            ("git_branch", {"name": "parents", "create": True}),
        ]:
            obs = run(context, tool, **arguments)
            assert obs.is_error and "not a git repository" in obs.text, (tool, obs.text)
        assert "initial" not in run(context, "git_log").text
        assert run(context, "list_directory").text.splitlines() == ["junk.log", "notes.md"]
    finally:
        context.close()
    assert sh(workspace, "rev-list", "--count", "HEAD").strip() == "1"
    assert "parents" not in sh(workspace, "branch")


def test_a_plain_directory_says_so(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    context = ToolContext(workspace=plain)
    for tool in ("git_status", "git_log", "git_diff", "git_show"):
        obs = run(context, tool)
        assert obs.is_error and f"{plain} is not a git repository" in obs.text


def test_inherited_git_variables_do_not_redirect_git(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marks: Path
) -> None:
    """A hook or a shell that started sii may leave GIT_DIR, GIT_EXTERNAL_DIFF, GIT_CONFIG_* set."""
    other = tmp_path / "other"
    other.mkdir()
    sh(other, "init", "-q", "-b", "main")
    sh(other, "commit", "-q", "--allow-empty", "-m", "someone else's history")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.fsmonitor={program(marks, 'env.fsmonitor', 'exit 1')}'")
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", program(marks, "env.external", "true"))
    (ctx.workspace / "calc.py").write_text("changed\n")
    assert "initial" in run(ctx, "git_log").text and "someone" not in run(ctx, "git_log").text
    assert "changed" in run(ctx, "git_diff").text
    run(ctx, "git_status")
    assert ran(marks) == []


def test_git_tools_run_inside_the_sandbox(ctx: ToolContext, tmp_path: Path) -> None:
    """A hook (allowed by the user) reports its mount namespace: inside bubblewrap it is not sii's."""
    ctx.sandbox = Sandbox()
    ctx.git_hooks = True
    report = ctx.workspace / "namespace.txt"
    hooks = ctx.workspace / ".git" / "hooks"
    (hooks / "pre-commit").write_text(f"#!/bin/sh\nreadlink /proc/self/ns/mnt > {report}\n")
    (hooks / "pre-commit").chmod(0o755)
    (ctx.workspace / "calc.py").write_text("changed\n")
    assert "calc.py" in run(ctx, "git_status").text
    obs = run(ctx, "git_commit", message="in the sandbox", paths=["calc.py"])
    assert not obs.is_error, obs.text
    assert report.read_text().strip() != os.readlink("/proc/self/ns/mnt")
    assert "in the sandbox" in run(ctx, "git_log").text


def test_without_bubblewrap_git_does_not_run_unconfined(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.sandbox = Sandbox()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bwrap (and no git) to be found
    obs = run(ctx, "git_log")
    assert obs.is_error and "the sandbox cannot run git" in obs.text and "bubblewrap" in obs.text


def test_a_hanging_git_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    """The repository's config includes a FIFO: git blocks reading it until it is killed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    sh(repo, "init", "-q")
    os.mkfifo(tmp_path / "fifo")
    sh(repo, "config", "include.path", str(tmp_path / "fifo"))
    started = time.monotonic()
    with pytest.raises(GitError, match="did not finish in time"):
        git(["status"], repo, timeout=1)
    assert time.monotonic() - started < 5


def test_output_past_the_cap_is_cut_and_git_stopped(ctx: ToolContext) -> None:
    (ctx.workspace / "big.txt").write_text("x" * 100_000 + "\n")
    result = git(
        ["diff", "--no-index", "--no-ext-diff", "--no-textconv", "/dev/null", "big.txt"], ctx.workspace, max_output=1000
    )
    assert result.truncated and len(result.stdout) == 1000


def test_inside_the_sandbox_the_repositorys_programs_stay_off(ctx: ToolContext) -> None:
    """The sandbox clears the environment: git's neutralising settings must still reach git inside it."""
    ctx.sandbox = Sandbox()
    marker = ctx.workspace / "fsmonitor-ran"
    script = ctx.workspace / "monitor.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    sh(ctx.workspace, "config", "core.fsmonitor", str(script))
    (ctx.workspace / "calc.py").write_text("changed\n")
    assert "calc.py" in run(ctx, "git_status").text
    run(ctx, "git_diff")
    assert not marker.exists()


# --- sii's git calls outside the tools: the recording's facts, mining a repository for tasks ----------------------


def test_git_facts_read_head_and_origin_from_the_workspace_up(workspace: Path, tmp_path: Path) -> None:
    from sii.recorder import git_facts

    sh(workspace, "remote", "add", "origin", "https://example.invalid/repo.git")
    head = sh(workspace, "rev-parse", "HEAD").strip()
    (workspace / "sub").mkdir()
    expected = {"head": head, "remote": "https://example.invalid/repo.git"}
    assert git_facts(str(workspace)) == git_facts(str(workspace / "sub")) == expected
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_facts(str(plain)) == git_facts(str(tmp_path / "missing")) == {"head": None, "remote": None}


@pytest.mark.parametrize("blocking", [".git/refs/heads/main", ".git/HEAD", ".git/config"])
def test_a_fifo_in_the_repository_does_not_stall_the_recording(workspace: Path, blocking: str) -> None:
    """gitpython (and a bare `git`) wait forever on a ref, HEAD or config that is a FIFO: the session never started."""
    from sii.recorder import git_facts

    (workspace / ".git" / "packed-refs").unlink(missing_ok=True)  # HEAD's branch is read from its own file
    (workspace / blocking).unlink()
    os.mkfifo(workspace / blocking)
    started = time.monotonic()
    assert git_facts(str(workspace), timeout=1.0) == {"head": None, "remote": None}
    assert time.monotonic() - started < 5


def test_mining_a_repository_runs_none_of_its_programs(workspace: Path, marks: Path, sii_home: Path) -> None:
    """`sii tasks from-git` and `sii annotate` run git on a repository someone else wrote: its textconv driver (on
    the patch), its fsmonitor, its smudge filter and its post-checkout hook (on the worktree) must not run."""
    from sii.tasks.annotate import prepare_workspace
    from sii.tasks.from_git import mine
    from sii.tasks.pool import Task

    (workspace / ".gitattributes").write_text("*.py diff=evil filter=evil\n")
    (workspace / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    sh(workspace, "add", ".")
    sh(workspace, "commit", "-q", "-m", "fix add")
    for key, name in [("diff.evil.textconv", "textconv"), ("core.fsmonitor", "fsmonitor")]:
        sh(workspace, "config", key, program(marks, name))
    sh(workspace, "config", "filter.evil.smudge", program(marks, "smudge"))
    script(workspace / ".git" / "hooks", "post-checkout", marks)
    (change,) = [item for item in mine(workspace, None) if not isinstance(item, tuple)]
    assert "+    return a + b" in change.patch
    task = Task(id="t1", query="q", repo=str(workspace), parent=change.parent)
    tree = prepare_workspace(task, sii_home)
    assert (tree / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert prepare_workspace(task, sii_home) == tree  # the second attempt replaces the first worktree
    assert ran(marks) == []
