"""Shaping tool output for the model: ANSI stripped, long output capped with head and tail kept, and every cut
placed so that no secret is split by it (a secret's first half is no longer recognizable as one, so the
recording's redactor would let it through)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recordings.redact import Redactor

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# How far either side of a cut to look for a secret the cut would split; a longer one (a PEM block) moves the
# cut to the window's edge and is looked at again from there.
_WINDOW = 4096


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@functools.cache
def _redactor() -> Redactor:
    from recordings.redact import Redactor  # imported on first cut: most tool calls never cut

    return Redactor()


def safe_cut(text: str, index: int, *, forward: bool = False) -> int:
    """`index`, moved back to the start (or, `forward`, on to the end) of any secret it falls inside, the text
    its pattern needs to recognize it included, so that neither side of a cut there holds part of one."""
    while 0 < index < len(text):
        low = max(0, index - _WINDOW)
        spans = _redactor().secret_spans(text[low : index + _WINDOW])
        split = [(low + start, low + end) for start, end in spans if low + start < index < low + end]
        if not split:
            break
        index = max(end for _, end in split) if forward else min(start for start, _ in split)
    return index


def clip(text: str, limit: int) -> str:
    """At most the first `limit` characters of `text`, never ending in the middle of a secret."""
    return text if len(text) <= limit else text[: safe_cut(text, limit)]


def cap_output(text: str, max_chars: int = 20_000) -> str:
    """Keep the head and tail of `text`; the middle is elided with a count so the model knows what it lost."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    head_end, tail_start = safe_cut(text, half), safe_cut(text, len(text) - half, forward=True)
    elided = tail_start - head_end
    omitted_lines = text[head_end:tail_start].count("\n")
    return f"{text[:head_end]}\n[... {elided} characters ({omitted_lines} lines) elided ...]\n{text[tail_start:]}"
