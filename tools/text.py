"""Shaping tool output for the model: ANSI stripped, long output capped with head and tail kept."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def cap_output(text: str, max_chars: int = 20_000) -> str:
    """Keep the head and tail of `text`; the middle is elided with a count so the model knows what it lost."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    elided = len(text) - 2 * half
    omitted_lines = text[half : len(text) - half].count("\n")
    return f"{text[:half]}\n[... {elided} characters ({omitted_lines} lines) elided ...]\n{text[-half:]}"
