"""git through gitpython: status, diff, log and show to read; commit and branch to change (they need approval).
Commits carry a `Sii-Session` trailer so a session's work can be traced from history back to its recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.text import cap_output

DEFAULT_LOG_COUNT = 20
MAX_LOG_COUNT = 500


def _repo(ctx: ToolContext) -> git.Repo:
    try:
        return git.Repo(ctx.workspace, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ToolError(f"{ctx.workspace} is not inside a git repository") from exc


def git_status(args: dict[str, Any], ctx: ToolContext) -> Observation:
    repo = _repo(ctx)
    text = repo.git.status("--short", "--branch")
    return Observation(text or "(clean)", data={"dirty": repo.is_dirty(untracked_files=True)})


def git_diff(args: dict[str, Any], ctx: ToolContext) -> Observation:
    repo = _repo(ctx)
    options = ["--no-color", "--no-ext-diff"]
    if args.get("staged"):
        options.append("--cached")
    if args.get("ref"):
        options.append(args["ref"])
    if args.get("path"):
        options += ["--", str(ctx.resolve(args["path"]))]
    try:
        text = repo.git.diff(*options)
    except git.GitCommandError as exc:
        raise ToolError(exc.stderr.strip() or str(exc)) from exc
    return Observation(cap_output(text) if text else "(no differences)", data={"diff": text})


def _git(repo: git.Repo, *args: str) -> str:
    """Run a git subcommand, turning git's refusal into an error the model reads verbatim."""
    try:
        return repo.git.execute(["git", *args])
    except git.GitCommandError as exc:
        message = (exc.stderr or "").strip()
        if message.startswith("stderr: '") and message.endswith("'"):
            message = message[len("stderr: '") : -1].strip()
        raise ToolError(message or str(exc)) from exc


def _pathspecs(repo: git.Repo, ctx: ToolContext, paths: list[str]) -> list[str]:
    """Workspace-relative paths as pathspecs relative to the repository root (the workspace may be a subfolder)."""
    root = Path(repo.working_tree_dir or ctx.workspace).resolve()
    return [str(ctx.resolve(path).relative_to(root)) or "." for path in paths]


def _ref(value: str) -> str:
    """A ref or branch name from the model; one starting with '-' would be read as an option (--output=...)."""
    if value.startswith("-"):
        raise ToolError(f"{value!r} is not a ref or branch name")
    return value


def git_log(args: dict[str, Any], ctx: ToolContext) -> Observation:
    repo = _repo(ctx)
    count = max(1, min(int(args.get("max_count", DEFAULT_LOG_COUNT)), MAX_LOG_COUNT))
    if not repo.head.is_valid() and not args.get("ref"):
        return Observation("(no commits yet)", data={"commits": 0})
    ref = _ref(args.get("ref") or "HEAD")
    options = ["log", f"--max-count={count}", "--date=short", "--format=%h %ad %an: %s", ref]
    if args.get("path"):
        options += ["--", *_pathspecs(repo, ctx, [args["path"]])]
    text = _git(repo, *options)
    return Observation(text or "(no commits match)", data={"commits": len(text.splitlines())})


def git_show(args: dict[str, Any], ctx: ToolContext) -> Observation:
    repo = _repo(ctx)
    ref = _ref(args.get("ref") or "HEAD")
    text = _git(repo, "show", "--no-color", "--no-ext-diff", "--stat", "--patch", "--format=fuller", ref)
    return Observation(cap_output(text), data={"ref": ref})


def git_commit(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Stage the given paths (default: every change in the workspace, `git add -A`) and commit them alone."""
    repo = _repo(ctx)
    message = str(args["message"]).strip()
    if not message:
        raise ToolError("the commit message is empty")
    paths = _pathspecs(repo, ctx, args.get("paths") or ["."])
    _git(repo, "add", "--all", "--", *paths)
    staged = repo.git.execute(
        ["git", "diff", "--cached", "--quiet", "--", *paths], with_extended_output=True, with_exceptions=False
    )
    if staged[0] == 0:
        raise ToolError(f"nothing to commit in {', '.join(paths)}: the working tree matches HEAD there")
    options = ["commit", "--quiet", "--message", message]
    if ctx.session_id:
        options += ["--trailer", f"Sii-Session: {ctx.session_id}"]
    _git(repo, *options, "--", *paths)
    commit = repo.head.commit
    stats = commit.stats.total
    text = (
        f"Committed {commit.hexsha[:10]} on {_branch_name(repo)}: {commit.summary} "
        f"({stats['files']} file{'s' * (stats['files'] != 1)}, +{stats['insertions']} -{stats['deletions']})"
    )
    return Observation(text, data={"sha": commit.hexsha, "files": stats["files"]})


def git_branch(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Create and/or switch to a branch. git itself refuses a switch that would overwrite local changes."""
    repo = _repo(ctx)
    name, create, switch = _ref(args["name"]), bool(args.get("create", False)), bool(args.get("switch", True))
    if not (create or switch):
        raise ToolError("nothing to do: set create and/or switch")
    if create and switch:
        _git(repo, "switch", "--create", name)
        return Observation(f"Created branch {name} and switched to it.", data={"branch": name})
    if create:
        _git(repo, "branch", name)
        return Observation(f"Created branch {name} at {repo.commit(name).hexsha[:10]}.", data={"branch": name})
    try:
        _git(repo, "switch", name)
    except ToolError as exc:
        raise ToolError(f"could not switch to {name}: {exc}") from exc
    return Observation(f"Switched to branch {name}.", data={"branch": name})


def _branch_name(repo: git.Repo) -> str:
    return "detached HEAD" if repo.head.is_detached else repo.active_branch.name


GIT_STATUS = Tool(
    "git_status",
    "Show the git branch and the short status of the working tree.",
    {"type": "object", "properties": {}},
    git_status,
)
GIT_DIFF = Tool(
    "git_diff",
    "Show a git diff: unstaged by default, staged with staged=true, or against a ref.",
    {
        "type": "object",
        "properties": {
            "staged": {"type": "boolean"},
            "ref": {"type": "string", "description": "Compare the working tree with this ref."},
            "path": {"type": "string", "description": "Limit the diff to this path."},
        },
    },
    git_diff,
)
GIT_LOG = Tool(
    "git_log",
    "Show commits, newest first, one line each: short sha, date, author, subject.",
    {
        "type": "object",
        "properties": {
            "ref": {"type": "string", "description": "Start from this ref or range (default HEAD), e.g. 'main..HEAD'."},
            "path": {"type": "string", "description": "Only commits touching this path."},
            "max_count": {"type": "integer", "description": f"Default {DEFAULT_LOG_COUNT}."},
        },
    },
    git_log,
)
GIT_SHOW = Tool(
    "git_show",
    "Show a commit: author, date, message, changed files and the diff.",
    {"type": "object", "properties": {"ref": {"type": "string", "description": "Commit or ref (default HEAD)."}}},
    git_show,
)
GIT_COMMIT = Tool(
    "git_commit",
    "Commit changes: the given paths, or by default every change in the workspace (new and deleted files too).",
    {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "paths": {"type": "array", "items": {"type": "string"}, "description": "Commit only these paths."},
        },
        "required": ["message"],
    },
    git_commit,
    mutates=True,
)
GIT_BRANCH = Tool(
    "git_branch",
    "Create a branch and/or switch to one. Switching keeps local changes unless they would be overwritten.",
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "create": {"type": "boolean", "description": "Create the branch at HEAD (default false)."},
            "switch": {"type": "boolean", "description": "Switch to the branch (default true)."},
        },
        "required": ["name"],
    },
    git_branch,
    mutates=True,
)
