"""Dataset statistics: counts and the distribution of trajectory lengths in tokens (LIMI's Figure 4),
drawn in the terminal and, with matplotlib, as a PNG."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from pathlib import Path

from recordings.store import SessionSummary

BIN_TOKENS = (0, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000)


def summarize(sessions: list[SessionSummary]) -> dict:
    tokens = [s.tokens for s in sessions]
    return {
        "sessions": len(sessions),
        "by_label": dict(Counter(s.outcome or "none" for s in sessions).most_common()),
        "by_model": dict(Counter(s.model for s in sessions).most_common()),
        "tokens_total": sum(tokens),
        "tokens_mean": statistics.fmean(tokens) if tokens else 0,
        "tokens_median": statistics.median(tokens) if tokens else 0,
        "tokens_max": max(tokens, default=0),
        "tokens_min": min(tokens, default=0),
    }


def histogram(tokens: list[int]) -> list[tuple[str, int]]:
    """(bin label, count) over fixed bins that suit agent trajectories (a few k to 150k+ tokens)."""
    edges = [*BIN_TOKENS, float("inf")]
    rows = []
    for low, high in itertools.pairwise(edges):
        label = f"{low // 1000}k–{high // 1000:.0f}k" if high != float("inf") else f"≥{low // 1000}k"
        rows.append((label, sum(low <= t < high for t in tokens)))
    while rows and rows[-1][1] == 0:  # drop empty bins at the long end
        rows.pop()
    return rows


def text_histogram(tokens: list[int], width: int = 40) -> str:
    rows = histogram(tokens)
    peak = max((count for _, count in rows), default=0) or 1
    return "\n".join(f"{label:>10} │{'█' * round(width * count / peak):<{width}} {count}" for label, count in rows)


def save_png(tokens: list[int], path: Path) -> None:
    """A histogram of trajectory lengths, with the mean and median marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ValueError("the PNG needs matplotlib: pip install 'sii[data]'") from exc
    figure, axes = plt.subplots(figsize=(7, 4), dpi=120)
    axes.hist([t / 1000 for t in tokens], bins=30, color="#4c72b0", edgecolor="white")
    if tokens:
        axes.axvline(statistics.fmean(tokens) / 1000, color="#dd8452", linestyle="--", label="mean")
        axes.axvline(statistics.median(tokens) / 1000, color="#55a868", linestyle=":", label="median")
        axes.legend()
    axes.set_xlabel("trajectory length (thousand tokens)")
    axes.set_ylabel("sessions")
    axes.set_title(f"{len(tokens)} recorded sessions")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
