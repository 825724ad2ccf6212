"""git_status and git_diff through gitpython."""

from __future__ import annotations

from typing import Any

import git

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.text import cap_output


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
