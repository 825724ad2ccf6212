"""Export cost beside the raw floor: reading every line of the same recordings with `json.loads` and writing
it back with `json.dumps`, which any export must at least do.

1. 1,000 synthetic sessions of 20–80 messages (tool outputs of 1–4 KB) exported to LIMI JSONL with the
   default filters (dedupe on, so every sample is hashed; redaction on, so every string is scanned).
2. `sii recordings stats` over the same 1,000 sessions, from the listing index vs with the index rebuilt.
3. One 150k-token session (~600 KB) exported alone: what `sii recordings export ID` costs on a long session.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

from bench.common import Row, bench_meta, median_time
from recordings.export import Selection, export
from recordings.schema import FunctionCall, Message, ToolCall
from recordings.stats import summarize
from recordings.store import INDEX_FILE, RecordingWriter, list_sessions

SESSIONS = 1000
WORDS = ["def", "return", "self", "value", "import", "path", "error", "test", "None", "the", "of", "and"]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]},
        },
    }
    for name in ("read_file", "run_shell", "edit_file", "grep")
]


def text(rng: random.Random, size: int) -> str:
    """Code-like text: words, indentation, quotes and newlines, so JSON has escaping to do."""
    lines, length = [], 0
    while length < size:
        line = "    " * rng.randrange(3) + " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))) + ' = "x"'
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)


def write_session(path: Path, rng: random.Random, steps: int, output_size: tuple[int, int]) -> None:
    """A session as sii records one: system, task, then steps of assistant call + tool result, an answer."""
    writer = RecordingWriter(path)  # redacted as written, like sii's own recordings
    meta = bench_meta(path.stem, "qwen3-8b")
    writer.session(meta, TOOLS, sync=False)
    writer.message(message={"role": "system", "content": text(rng, 2000)})
    writer.message(message={"role": "user", "content": f"task {path.stem}: " + text(rng, 200)})
    for step in range(steps):
        name = str(rng.choice(TOOLS)["function"]["name"])
        function: FunctionCall = {"name": name, "arguments": {"arg": text(rng, 80)}}
        call: ToolCall = {"id": f"c{step}", "type": "function", "function": function}
        assistant: Message = {
            "role": "assistant",
            "content": text(rng, 100),
            "reasoning": text(rng, 200),
            "tool_calls": [call],
        }
        writer.message(message=assistant)
        result = text(rng, rng.randrange(*output_size))
        writer.message(message={"role": "tool", "tool_call_id": f"c{step}", "content": result})
    writer.message(message={"role": "assistant", "content": text(rng, 300)})
    writer.turn_end(sync=False, reason="done", steps=steps)
    writer.close()


def raw_floor(paths: list[Path], out: Path) -> None:
    with open(out, "w", encoding="utf-8") as handle:
        for path in paths:
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    handle.write(json.dumps(json.loads(line), ensure_ascii=False) + "\n")


def compare(directory: Path, out: Path, repeats: int) -> tuple[float, float]:
    """Median export and raw-floor times, interleaved so load from other processes hits both alike."""
    paths = sorted(directory.glob("*.jsonl"))
    sii, baseline = [], []
    for _ in range(max(repeats, 3)):
        sii.append(median_time(lambda: export(directory, "jsonl", out, Selection()), 1))
        baseline.append(median_time(lambda: raw_floor(paths, out.with_suffix(".raw")), 1))
    return statistics.median(sii), statistics.median(baseline)


def stats_of(directory: Path, fresh_index: bool) -> None:
    """`sii recordings stats`: list every session (from the index unless it is rebuilt) and summarise."""
    if fresh_index:
        (directory / INDEX_FILE).unlink(missing_ok=True)
    summarize(list_sessions(directory))


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    """`steps` is unused: session lengths are part of the workload."""
    rng = random.Random(7)
    many = workdir / "recordings-many"
    for index in range(SESSIONS):
        write_session(many / f"s{index:05d}.jsonl", rng, rng.randrange(9, 40), (1000, 4000))
    long = workdir / "recordings-long"
    write_session(long / "long.jsonl", rng, 110, (4500, 5000))
    long_size = (long / "long.jsonl").stat().st_size
    many_sii, many_raw = compare(many, workdir / "many.out.jsonl", repeats)
    cold_stats = median_time(lambda: stats_of(many, fresh_index=True), 1)
    warm_stats = median_time(lambda: stats_of(many, fresh_index=False), repeats)
    long_sii, long_raw = compare(long, workdir / "long.out.jsonl", repeats)
    return [
        Row(f"export {SESSIONS:,} sessions to JSONL (s)", many_sii, "json loads+dumps per line", many_raw, "<= 2x"),
        Row(f"stats of {SESSIONS:,} sessions, warm index (s)", warm_stats, "same, index rebuilt", cold_stats),
        Row(
            f"export one 150k-token session ({long_size // 1000} KB) (s)",
            long_sii,
            "json loads+dumps per line",
            long_raw,
            goal="< 1 s",
        ),
    ]
