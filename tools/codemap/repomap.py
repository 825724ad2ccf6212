"""The code map of a workspace: its source files (as git lists them), their tags through the cache, and the
rendered map, itself remembered until something it depends on changes. `repo_map` builds one for a system
prompt."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from tools.base import ToolContext
from tools.codemap.cache import TagCache
from tools.codemap.extract import FileTags, language_for
from tools.codemap.rank import rank_definitions, render_map
from tools.listing import git_listed_files
from tools.search import ripgrep_binary

DEFAULT_BUDGET_TOKENS = 2000


def default_cache_dir() -> Path:
    return Path(os.environ.get("SII_CACHE") or platformdirs.user_cache_dir("sii")) / "codemap"


def list_source_files(root: Path) -> list[str]:
    """Supported source files under `root`, relative to it, honouring .gitignore: `git ls-files` inside a
    repository (tracked plus untracked-but-not-ignored), else `rg --files`."""
    paths = git_listed_files(root)
    if paths is None:
        rg = subprocess.run(
            [ripgrep_binary(), "--files", "--null", "--no-require-git"],
            cwd=root,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        paths = os.fsdecode(rg.stdout).split("\0")
    return sorted({path for path in paths if path and language_for(path)})


@dataclass
class Index:
    """Every supported file's tags, and what building them cost (the tests count parses)."""

    tags: dict[str, FileTags]
    hashed: int
    parsed: int


def build_index(root: Path, cache_dir: Path) -> Index:
    """Tags of every supported file under `root`, read through a ToolContext so no link leads the index out."""
    with closing(ToolContext(workspace=root)) as context, TagCache(cache_dir) as cache:
        snapshot = cache.snapshot(context, list_source_files(root))
        return Index(cache.load(root, snapshot), snapshot.hashed, snapshot.parsed)


def cached_map(
    context: ToolContext, cache_dir: Path, paths: list[str], budget_tokens: int, files: set[str], names: set[str]
) -> tuple[str, int]:
    """The rendered map and the number of source files. The map is remembered under a key of everything it
    depends on (each file's content key, the mentions, the budget), so an unchanged workspace is not ranked
    again: what is left is listing and a stat per file."""
    with TagCache(cache_dir) as cache:
        snapshot = cache.snapshot(context, paths)
        material = repr((list(snapshot.keys.items()), sorted(files), sorted(names), budget_tokens))
        key = hashlib.sha1(material.encode("utf-8", "surrogateescape")).hexdigest()
        text = cache.get_map(key)
        if text is None:
            tags = cache.load(context.workspace, snapshot)
            text = render_map(rank_definitions(tags, files, names), budget_tokens)
            cache.put_map(key, text)
        return text, len(snapshot.keys)


def repo_map(
    root: Path,
    cache_dir: Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    mentioned_files: Iterable[str] = (),
    mentioned_names: Iterable[str] = (),
) -> str:
    """The code map of `root` for a system prompt ('' when it holds no supported source). Mentioned files
    are paths relative to `root` (absolute ones under it are accepted too)."""
    paths = list_source_files(root)
    base = root.resolve()
    files = {os.path.relpath(Path(path).resolve(), base) if os.path.isabs(path) else path for path in mentioned_files}
    names = set(mentioned_names)
    with closing(ToolContext(workspace=root)) as context:
        return cached_map(context, cache_dir or default_cache_dir(), paths, budget_tokens, files, names)[0]
