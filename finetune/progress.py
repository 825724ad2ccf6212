"""Training progress the user and later tools can read: tokens/s beside the loss on the console (the
Trainer's progress bar gives the ETA), every log line in metrics.jsonl, and a loss curve PNG."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


class MetricsLog(TrainerCallback):
    """Adds tokens/s to each log and appends it to `path`. Runs before the progress bar prints the log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: tuple[float, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last = (time.monotonic(), state.num_input_tokens_seen)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs is None or "loss" not in logs:
            return
        now, seen = time.monotonic(), state.num_input_tokens_seen
        if self._last is not None and now > self._last[0]:
            logs["tokens_per_s"] = round((seen - self._last[1]) / (now - self._last[0]), 1)
        self._last = (now, seen)
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": state.global_step, "tokens_seen": seen, **logs}) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The logged steps in order; a step logged twice (redone after resuming from an earlier checkpoint)
    counts as its last run."""
    if not path.exists():
        return []
    by_step = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            by_step[entry["step"]] = entry
    return [by_step[step] for step in sorted(by_step)]


def plot_loss(metrics: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot([m["step"] for m in metrics], [m["loss"] for m in metrics], marker=".")
    axes.set(xlabel="step", ylabel="training loss", title=out.parent.name)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
