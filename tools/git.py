"""git for the model: status, diff, log and show to read; commit and branch to change (they need approval).
Every call goes through `tools.gitcmd` (the repository's programs off, discovery stopped at the workspace, inside
the sandbox when there is one), and every argument from the model is checked before git sees it: revisions and
branch names never start with '-' and hold no whitespace or control characters, `--end-of-options` and `--` keep
them and the paths apart from options. Commits carry a `Sii-Session` trailer so a session's work can be traced from
history back to its recording; the repository's hooks run on commit and switch only when the user allows them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.gitcmd import GitError, GitResult, git
from tools.schema import array, boolean, integer, obj, string
from tools.text import cap_output

DEFAULT_LOG_COUNT = 20
MAX_LOG_COUNT = 500
MAX_REVISION = 256
_REVISION = re.compile(rf"[^\s\\\x00-\x1f\x7f]{{1,{MAX_REVISION}}}")
_DIFF = ("--no-color", "--no-ext-diff", "--no-textconv")  # git never runs a repository's diff programs for us
_TRAILER_LINE = re.compile(r"[A-Za-z0-9-]+: .*")


def _run(ctx: ToolContext, *args: str, mutating: bool = False) -> GitResult:
    """git in the workspace; on commit and switch the user's own filters (git-lfs) and, if allowed, hooks run."""
    try:
        return git(
            args,
            ctx.workspace,
            sandbox=ctx.sandbox,
            hooks=mutating and ctx.git_hooks,
            writes=mutating,
            user_filters=mutating,
        )
    except GitError as exc:
        raise ToolError(str(exc)) from exc


def _git(ctx: ToolContext, *args: str, mutating: bool = False) -> str:
    """Run a git subcommand, turning git's refusal into an error the model reads verbatim."""
    result = _run(ctx, *args, mutating=mutating)
    if result.exit_code != 0 and not result.truncated:
        raise ToolError(result.error or f"git {args[0]} failed with exit code {result.exit_code}")
    return result.text


def _repository(ctx: ToolContext) -> None:
    """Refuse unless the workspace itself is the top of a git work tree: git looks no further up than the workspace,
    and a work tree moved elsewhere by the repository's config (core.worktree) is not the workspace."""
    found = _run(ctx, "rev-parse", "--show-toplevel")
    if found.exit_code != 0:
        says = "" if "not a git repository" in found.error else f"; git says: {found.error}"  # dubious ownership...
        raise ToolError(
            f"{ctx.workspace} is not a git repository (the workspace is not inside a git repository of its own, "
            f"and git looks no further up than the workspace){says}"
        )
    top = Path(found.text.rstrip("\n")).resolve()
    if top != ctx.workspace.resolve():
        raise ToolError(f"the repository's work tree is {top}, not the workspace {ctx.workspace.resolve()}")


def _revision(value: object, what: str = "ref") -> str:
    """A ref, revision or range from the model (HEAD~2, main..HEAD, v1.0^{commit}, HEAD:path)."""
    if not isinstance(value, str) or value.startswith("-") or not _REVISION.fullmatch(value):
        raise ToolError(
            f"{what} {value!r} refused: a git ref is a string of at most {MAX_REVISION} characters without "
            "whitespace or control characters that does not start with '-'"
        )
    return value


def _branch(ctx: ToolContext, value: object) -> str:
    """A branch name, checked by git's own rules (`git check-ref-format`) and never an option."""
    name = _revision(value, "branch name")
    if _run(ctx, "check-ref-format", f"refs/heads/{name}").exit_code != 0:
        raise ToolError(f"branch name {name!r} refused: git does not allow it as a branch name")
    return name


def _pathspecs(ctx: ToolContext, paths: object) -> list[str]:
    """Workspace paths (the workspace is the top of the work tree) as literal pathspecs, confined to it."""
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise ToolError(f"paths {paths!r} refused: paths must be a list of strings")
    root = ctx.workspace.resolve()
    return [str(ctx.resolve(path).relative_to(root)) for path in paths]


def _given(args: dict[str, Any], key: str) -> bool:
    """An optional argument the model actually set: null and "" (and []) mean "not given"."""
    return args.get(key) not in (None, "", [])


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ToolError(f"max_count {value!r} refused: it must be a whole number")
    return max(1, min(int(value), MAX_LOG_COUNT))


def git_status(args: dict[str, Any], ctx: ToolContext) -> Observation:
    _repository(ctx)
    text = _git(ctx, "status", "--short", "--branch", "--ignore-submodules=dirty")
    dirty = any(not line.startswith("##") for line in text.splitlines())
    return Observation(text.rstrip("\n") or "(clean)", data={"dirty": dirty})


def git_diff(args: dict[str, Any], ctx: ToolContext) -> Observation:
    _repository(ctx)
    options = ["diff", *_DIFF, "--ignore-submodules=dirty"]
    if args.get("staged"):
        options.append("--cached")
    options += ["--end-of-options", *([_revision(args["ref"])] if _given(args, "ref") else []), "--"]
    options += _pathspecs(ctx, [args["path"]]) if _given(args, "path") else []
    text = _git(ctx, *options)
    return Observation(cap_output(text) if text else "(no differences)", data={"diff": text})


def git_log(args: dict[str, Any], ctx: ToolContext) -> Observation:
    _repository(ctx)
    count = _count(args.get("max_count", DEFAULT_LOG_COUNT))
    ref = _revision(args["ref"]) if _given(args, "ref") else "HEAD"
    paths = _pathspecs(ctx, [args["path"]]) if _given(args, "path") else []
    if not _given(args, "ref") and _run(ctx, "rev-parse", "--verify", "--quiet", "HEAD").exit_code != 0:
        return Observation("(no commits yet)", data={"commits": 0})
    options = ["log", "--no-color", f"--max-count={count}", "--date=short", "--format=%h %ad %an: %s"]
    text = _git(ctx, *options, "--end-of-options", ref, "--", *paths).rstrip("\n")
    return Observation(text or "(no commits match)", data={"commits": len(text.splitlines())})


def git_show(args: dict[str, Any], ctx: ToolContext) -> Observation:
    _repository(ctx)
    ref = _revision(args["ref"]) if _given(args, "ref") else "HEAD"
    text = _git(ctx, "show", *_DIFF, "--stat", "--patch", "--format=fuller", "--end-of-options", ref, "--")
    return Observation(cap_output(text), data={"ref": ref})


def with_trailer(message: str, session_id: str) -> str:
    """`message` with a `Sii-Session` trailer, joined to a trailer block it already ends with. Written here rather
    than by `git commit --trailer`, which would run the repository's `trailer.<token>.command` programs."""
    session = " ".join(session_id.split())
    if not session:
        return message
    paragraphs = message.split("\n\n")
    last = paragraphs[-1].splitlines()
    joined = len(paragraphs) > 1 and all(_TRAILER_LINE.fullmatch(line) for line in last)
    separator = "\n" if joined else "\n\n"
    return f"{message}{separator}Sii-Session: {session}"


def git_commit(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Stage the given paths (default: every change in the workspace, `git add -A`) and commit them alone."""
    message = args["message"]
    if not isinstance(message, str) or "\0" in message:
        raise ToolError(f"message {message!r} refused: the commit message must be text without null bytes")
    message = message.strip()
    if not message:
        raise ToolError("the commit message is empty")
    paths = _pathspecs(ctx, args["paths"] if _given(args, "paths") else ["."])
    _repository(ctx)
    _git(ctx, "add", "--all", "--", *paths, mutating=True)
    if _run(ctx, "diff", *_DIFF, "--cached", "--quiet", "--", *paths).exit_code == 0:
        raise ToolError(f"nothing to commit in {', '.join(paths)}: the working tree matches HEAD there")
    verify = [] if ctx.git_hooks else ["--no-verify"]
    trailed = with_trailer(message, ctx.session_id)
    _git(ctx, "commit", "--quiet", *verify, f"--message={trailed}", "--", *paths, mutating=True)
    sha, summary, numstat = _git(ctx, "show", *_DIFF, "--numstat", "--format=%H%x00%s%x00", "HEAD", "--").split("\0", 2)
    counts = [line.split("\t", 2) for line in numstat.splitlines() if line.strip()]
    added = sum(int(count[0]) for count in counts if count[0].isdigit())
    removed = sum(int(count[1]) for count in counts if count[1].isdigit())
    files = len(counts)
    text = (
        f"Committed {sha[:10]} on {_current_branch(ctx)}: {summary} "
        f"({files} file{'s' * (files != 1)}, +{added} -{removed})"
    )
    return Observation(text, data={"sha": sha, "files": files})


def git_branch(args: dict[str, Any], ctx: ToolContext) -> Observation:
    """Create and/or switch to a branch. git itself refuses a switch that would overwrite local changes."""
    _repository(ctx)
    name, create, switch = _branch(ctx, args["name"]), bool(args.get("create", False)), bool(args.get("switch", True))
    if not (create or switch):
        raise ToolError("nothing to do: set create and/or switch")
    if create and switch:
        _git(ctx, "switch", "--create", name, mutating=True)
        return Observation(f"Created branch {name} and switched to it.", data={"branch": name})
    if create:
        _git(ctx, "branch", "--end-of-options", name, mutating=True)
        sha = _git(ctx, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}").strip()
        return Observation(f"Created branch {name} at {sha[:10]}.", data={"branch": name})
    try:
        _git(ctx, "switch", "--end-of-options", name, mutating=True)
    except ToolError as exc:
        raise ToolError(f"could not switch to {name}: {exc}") from exc
    return Observation(f"Switched to branch {name}.", data={"branch": name})


def _current_branch(ctx: ToolContext) -> str:
    found = _run(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
    return found.text.strip() if found.exit_code == 0 else "detached HEAD"


GIT_STATUS = Tool(
    "git_status",
    "Show the git branch and the short status of the working tree.",
    obj(),
    git_status,
)
GIT_DIFF = Tool(
    "git_diff",
    "Show a git diff: unstaged by default, staged with staged=true, or against a ref.",
    obj(
        staged=boolean(),
        ref=string("Compare the working tree with this ref."),
        path=string("Limit the diff to this path."),
    ),
    git_diff,
)
GIT_LOG = Tool(
    "git_log",
    "Show commits, newest first, one line each: short sha, date, author, subject.",
    obj(
        ref=string("Start from this ref or range (default HEAD), e.g. 'main..HEAD'."),
        path=string("Only commits touching this path."),
        max_count=integer(f"Default {DEFAULT_LOG_COUNT}."),
    ),
    git_log,
)
GIT_SHOW = Tool(
    "git_show",
    "Show a commit: author, date, message, changed files and the diff.",
    obj(ref=string("Commit or ref (default HEAD).")),
    git_show,
)
GIT_COMMIT = Tool(
    "git_commit",
    "Commit changes: the given paths, or by default every change in the workspace (new and deleted files too).",
    obj(message=string(), paths=array(string(), "Commit only these paths."), required=["message"]),
    git_commit,
    mutates=True,
)
GIT_BRANCH = Tool(
    "git_branch",
    "Create a branch and/or switch to one. Switching keeps local changes unless they would be overwritten.",
    obj(
        name=string(),
        create=boolean("Create the branch at HEAD (default false)."),
        switch=boolean("Switch to the branch (default true)."),
        required=["name"],
    ),
    git_branch,
    mutates=True,
)
