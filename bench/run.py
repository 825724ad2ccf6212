"""Every benchmark, one table: each sii figure beside a named baseline measured in the same run.

make bench          (or: .venv/bin/python bench/run.py [--steps 50] [--repeats 5])
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import agent, codemap, finetune, recordings, startup, tools
from bench.common import Row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="tool-calling steps in the agent benchmark")
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (the median is shown)")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sii-bench-") as tmp:
        os.environ["SII_HOME"] = str(Path(tmp) / "home")
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        rows += startup.rows(workdir, args.steps, args.repeats)
        rows += agent.rows(workdir, args.steps, args.repeats)
        rows += codemap.rows(workdir, args.steps, args.repeats)
        rows += tools.rows(workdir, args.steps, args.repeats)
        rows += recordings.rows(workdir, args.steps, args.repeats)
        rows += finetune.rows(workdir, args.steps, args.repeats)

    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "sii", "baseline", "baseline value", "sii / baseline", "goal", title="sii bench")
    for row in rows:
        ratio = f"{row.sii / row.baseline:.2f}x" if row.baseline else "-"
        table.add_row(row.metric, f"{row.sii:.3f}", row.baseline_name, f"{row.baseline:.3f}", ratio, row.goal)
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
