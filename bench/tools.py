"""Tool overheads beside the raw commands they wrap.

1. grep: the grep tool over a generated 20k-file tree vs `rg` run directly on the same tree and pattern.
2. shell round trip: `true` through run_shell (the persistent pexpect bash) vs a fresh `bash -c true` per call,
   which is what agents without a persistent shell pay.
3. shell capture: MB/s of `seq 1 7000000` (about 55 MB) through run_shell, output kept on disk and shown as head
   and tail, vs `bash -c 'seq 1 7000000 > /dev/null'`, which captures nothing.
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

from bench.common import Row, median_command_time, median_time
from tools import ToolContext
from tools.default import default_registry
from tools.search import ripgrep_binary

TREE_FILES = 20_000
SHELL_CALLS = 200
CAPTURE_COMMAND = "seq 1 7000000"
PATTERN = r"needle_\d+"


def make_tree(root: Path, files: int = TREE_FILES) -> None:
    """Small text files in nested directories (20 x 20 x 50); one file in 100 holds a match."""
    for index in range(files):
        path = root / f"d{index % 20:02d}" / f"s{index // 20 % 20:02d}" / f"f{index:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        hit = f"needle_{index}\n" if index % 100 == 0 else ""
        path.write_text(f"file {index}\nsome ordinary text line\n{hit}the end\n")


def grep_row(workdir: Path, repeats: int) -> Row:
    tree = workdir / "grep-tree"
    make_tree(tree)
    registry, ctx = default_registry(), ToolContext(workspace=tree)
    raw = [ripgrep_binary(), "--line-number", "--no-heading", "--color=never", PATTERN, str(tree)]

    def tool() -> None:
        assert registry.dispatch("grep", {"pattern": PATTERN}, ctx).data["matches"] == TREE_FILES // 100

    def direct() -> None:
        subprocess.run(raw, check=True, capture_output=True)

    direct()  # warm the page cache for both
    # Interleaved, so load from other processes on the machine hits both sides alike.
    sii, baseline = [], []
    for _ in range(max(repeats, 5)):
        sii.append(median_time(tool, 1))
        baseline.append(median_time(direct, 1))
    return Row(
        f"grep, {TREE_FILES // 1000}k files (ms)",
        statistics.median(sii) * 1000,
        "rg directly",
        statistics.median(baseline) * 1000,
        "<= 1.2x",
    )


def shell_row(workdir: Path) -> Row:
    registry, ctx = default_registry(), ToolContext(workspace=workdir)
    try:
        registry.dispatch("run_shell", {"command": "true"}, ctx)  # start bash outside the timing
        sii = median_time(lambda: registry.dispatch("run_shell", {"command": "true"}, ctx), SHELL_CALLS)
    finally:
        ctx.close()
    baseline = median_command_time(["bash", "-c", "true"], SHELL_CALLS)
    return Row("shell round trip of `true` (ms)", sii * 1000, "bash -c per call", baseline * 1000, "< 20 ms")


def capture_row(workdir: Path, repeats: int) -> Row:
    registry, ctx = default_registry(), ToolContext(workspace=workdir)
    size = len(subprocess.run(["bash", "-c", CAPTURE_COMMAND], check=True, capture_output=True).stdout)
    try:
        registry.dispatch("run_shell", {"command": "true"}, ctx)  # start bash outside the timing

        def capture() -> None:
            obs = registry.dispatch("run_shell", {"command": CAPTURE_COMMAND}, ctx)
            assert obs.data["exit_code"] == 0 and obs.data["output_bytes"] == size

        sii = median_time(capture, repeats)
    finally:
        ctx.close()
    baseline = median_command_time(["bash", "-c", f"{CAPTURE_COMMAND} > /dev/null"], repeats)
    return Row(
        f"shell capture of `{CAPTURE_COMMAND}` (MB/s, higher is better)",
        size / sii / 1e6,
        "bash -c CMD > /dev/null",
        size / baseline / 1e6,
        ">= 50 MB/s",
    )


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    return [grep_row(workdir, repeats), shell_row(workdir), capture_row(workdir, repeats)]
