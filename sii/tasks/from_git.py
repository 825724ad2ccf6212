"""Mining a local repository's history for tasks. The unit is one change on the first-parent line of the
range: a merge commit (diffed against its first parent, so the whole PR) or a commit pushed directly; the
commits inside a merged branch are not mined on their own. A change is kept when it touches code, is not
only documentation, lockfiles or vendored files, and its patch fits the token limit.

Patch size: tokens of the given tokenizer (the served model's, loaded offline) when there is one, else about
4 characters a token. Lockfiles and vendored files are left out of the patch and of its size."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sii.tasks import paths
from sii.tasks.pool import TaskError
from tools.gitcmd import GitError
from tools.gitcmd import git as run_git

CATEGORIES = ("frontend", "backend", "deployment", "debugging", "optimization", "docs-tests")
DEBUGGING = re.compile(r"\b(fix\w*|bugs?|crash\w*|errors?|regressions?|broken|exceptions?|hotfix|fails?|failing)\b")
OPTIMIZATION = re.compile(r"\b(perf|performance|speed\s?up|faster|optimi[sz]\w*|slow\w*|latency|memory|cach\w*)\b")
# Difficulty by the size of the reference patch: one file and a short patch is easy, many files or a long one hard.
EASY_TOKENS, HARD_TOKENS, HARD_FILES = 150, 600, 4
GIT_TIMEOUT_S = 600.0  # a worktree of a large repository takes a while to check out


def git(repo: Path, *args: str) -> str:
    """`git <args>` in `repo` through tools.gitcmd: a mined repository was written by someone else, so none of the
    programs its config or hooks name run (the user's own filters, git-lfs say, do), and every call has a bound."""
    try:
        result = run_git(args, Path(repo), user_filters=True, timeout=GIT_TIMEOUT_S)
    except GitError as exc:
        raise TaskError(f"git {' '.join(args)} failed in {repo}: {exc}") from None
    if result.exit_code != 0 or result.truncated:
        reason = result.error if result.exit_code != 0 else "its output is too large"
        raise TaskError(f"git {' '.join(args)} failed in {repo}: {reason}")
    return result.text


@dataclass
class Change:
    """One mined change that passed the filters."""

    commit: str
    parent: str
    message: str
    files: list[str]  # changed files, lockfiles and vendored files left out
    patch: str
    tokens: int
    category: str
    difficulty: str
    merge: bool


def char_tokens(text: str) -> int:
    return len(text) // 4


def tokenizer_tokens(name_or_path: str) -> Callable[[str], int]:
    """A counter with the served model's tokenizer, loaded offline (a folder or a cached hub name)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TaskError(f"cannot load tokenizer {name_or_path!r} offline: {exc}") from exc
    return lambda text: len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def classify(files: list[str], message: str) -> str:
    """A category from the paths first (what the change is made of), then the commit message (why)."""
    if all(paths.is_doc(f) or paths.is_test(f) for f in files):
        return "docs-tests"
    if all(paths.is_deploy(f) or paths.is_doc(f) for f in files):
        return "deployment"
    text = message.lower()
    if DEBUGGING.search(text):
        return "debugging"
    if OPTIMIZATION.search(text):
        return "optimization"
    code = [f for f in files if paths.is_code(f) and not paths.is_test(f) and not paths.is_deploy(f)]
    if code and 2 * sum(paths.is_frontend(f) for f in code) > len(code):
        return "frontend"
    return "backend"


def difficulty(files: list[str], tokens: int) -> str:
    if len(files) >= HARD_FILES or tokens > HARD_TOKENS:
        return "hard"
    return "easy" if len(files) == 1 and tokens <= EASY_TOKENS else "medium"


def first_parent_line(repo: Path, revision_range: str | None) -> Iterator[tuple[str, list[str]]]:
    """(commit, parents) along the first-parent line of the range, oldest first."""
    listing = git(repo, "rev-list", "--first-parent", "--reverse", "--parents", revision_range or "HEAD", "--")
    for line in listing.splitlines():
        commit, *parents = line.split()
        yield commit, parents


def patch_key(patch: str) -> str:
    """The same change applied twice (a cherry-pick, a re-merge) has the same changed lines."""
    changed = [line for line in patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    return hashlib.sha256("\n".join(changed).encode()).hexdigest()


def examine(repo: Path, commit: str, parents: list[str], count: Callable[[str], int], max_tokens: int) -> Change | str:
    """The change `commit` makes on its first parent, or why it is dropped."""
    if not parents:
        return "root commit (nothing to start from)"
    parent = parents[0]
    changed = [name for name in git(repo, "diff", "--name-only", "--no-renames", parent, commit).splitlines() if name]
    if not changed:
        return "changes nothing"
    files = [name for name in changed if not paths.is_lock_or_vendored(name)]
    if not files:
        return "only lockfiles or vendored files"
    if all(paths.is_doc(name) for name in files):
        return "only documentation"
    if not any(paths.is_code(name) for name in files):
        return "touches no code"
    patch = git(
        repo, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", parent, commit, "--", *files
    )
    tokens = count(patch)
    if tokens > max_tokens:
        return f"patch of {tokens} tokens (over {max_tokens})"
    message = git(repo, "log", "-1", "--format=%B", commit).strip()
    return Change(
        commit=commit,
        parent=parent,
        message=message,
        files=files,
        patch=patch,
        tokens=tokens,
        category=classify(files, message),
        difficulty=difficulty(files, tokens),
        merge=len(parents) > 1,
    )


def mine(
    repo: Path,
    revision_range: str | None,
    count: Callable[[str], int] = char_tokens,
    max_tokens: int = 1200,
    categories: set[str] | None = None,
) -> Iterator[Change | tuple[str, str]]:
    """Each change of the range: a Change when kept, (commit, reason) when dropped."""
    try:
        git(repo, "rev-parse", "--git-dir")
    except TaskError:
        raise TaskError(f"{repo} is not a git repository") from None
    seen: dict[str, str] = {}
    for commit, parents in first_parent_line(repo, revision_range):
        change = examine(repo, commit, parents, count, max_tokens)
        if isinstance(change, str):
            yield commit, change
        elif categories is not None and change.category not in categories:
            yield commit, f"category {change.category}"
        elif (key := patch_key(change.patch)) in seen:
            yield commit, f"same patch as {seen[key][:10]}"
        else:
            seen[key] = commit
            yield change
