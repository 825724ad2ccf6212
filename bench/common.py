"""What every benchmark module shares: a result row and a robust timer."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recordings.schema import SessionMeta

BIN = Path(sys.executable).parent


@dataclass
class Row:
    """One measured figure beside its baseline, measured in the same run. Lower is better."""

    metric: str
    sii: float
    baseline_name: str
    baseline: float
    goal: str = ""


def median_time(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action` in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def median_command_time(command: list[str], repeats: int) -> float:
    return median_time(lambda: subprocess.run(command, check=True, capture_output=True), repeats)


def bench_meta(session_id: str, model: str) -> SessionMeta:
    """The header of a generated recording: a finished, successful headless session of `model`."""
    return SessionMeta(
        session_id=session_id,
        sii_version="bench",
        face="headless",
        model=model,
        base_url="http://x/v1",
        sampling={},
        workspace="/w",
        started_at=1.0,
        outcome="success",
    )
