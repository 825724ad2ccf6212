"""Code map build time on a generated 2,000-file Python repository: warm (tags cached, nothing changed; what
every turn pays) beside cold (empty cache: list, hash, parse every file with tree-sitter, rank, render).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.common import Row, median_time
from tools.codemap import repo_map

FILES = 2000
PACKAGES = 20


def module_source(i: int) -> str:
    """A small module with a class, methods and functions that import and call three other modules."""
    others = [(i * 7 + 1) % FILES, (i * 13 + 5) % FILES, (i * 31 + 11) % FILES]
    imports = "".join(f"from pkg{j % PACKAGES}.mod{j} import Service{j}, helper_{j}\n" for j in others)
    calls = "".join(f"        helper_{j}(value)\n        Service{j}().handle(value)\n" for j in others)
    return (
        f'"""Module {i}."""\n\n{imports}\n\n'
        f"class Service{i}:\n"
        f'    """Service {i}."""\n\n'
        f"    def handle(self, value: int) -> int:\n{calls}        return value + {i}\n\n"
        f"    def describe(self) -> str:\n        return 'service {i}'\n\n\n"
        f"def helper_{i}(value: int) -> int:\n    return value * {i}\n\n\n"
        f"def _private_{i}(value):\n    return helper_{i}(value)\n"
    )


def generate(root: Path) -> None:
    """The tree as a committed git repository, its files older than the cache's one-second racy window
    (as a checkout that exists before the session starts)."""
    for package in range(PACKAGES):
        (root / f"pkg{package}").mkdir()
        (root / f"pkg{package}" / "__init__.py").write_text("")
    for i in range(FILES):
        (root / f"pkg{i % PACKAGES}" / f"mod{i}.py").write_text(module_source(i))
    past = time.time_ns() - 60 * 10**9
    for path in root.rglob("*.py"):
        os.utime(path, ns=(past, past))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    """`steps` is unused: the map has no agent loop. The second row asks for a map not rendered before
    (a new mention each time), so tags come from the cache but ranking and rendering run."""
    root = workdir / "codemap-repo"
    root.mkdir()
    generate(root)
    cache_dir = workdir / "codemap-cache"
    started = time.perf_counter()
    cold_map = repo_map(root, cache_dir)
    cold = time.perf_counter() - started
    assert cold_map.count("│") > 50, cold_map
    warm = median_time(lambda: repo_map(root, cache_dir), repeats)
    assert repo_map(root, cache_dir) == cold_map
    mentions = iter(range(FILES))
    rerank = median_time(lambda: repo_map(root, cache_dir, mentioned_names=[f"helper_{next(mentions)}"]), repeats)
    files = f"{FILES // 1000}k Python files"
    return [
        Row(f"code map, {files}, warm (s)", warm, "same map cold", cold, goal="warm < 0.1 s"),
        Row(f"code map, {files}, warm tags, new focus (s)", rerank, "same map cold", cold),
    ]
