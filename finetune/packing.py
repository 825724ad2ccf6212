"""Fitting examples into rows of at most `max_length` tokens.

Too long (LIMI's samples average 42k tokens, up to 152k): "drop" skips the example; "split" cuts it at turn
boundaries into pieces that each start with the example's head (system prompt, tools, first user message:
the task) followed by consecutive (prompt, reply) pairs, so every reply keeps the task and the turns just
before it as context. A pair that does not fit even beside the head alone is dropped.

Packing: examples are placed first-fit-decreasing into rows, each restarting `position_ids` at 0. With no
attention mask, transformers reads the restarts as sequence boundaries and attends block-diagonally (no
token sees another example), on SDPA and flash attention alike; tests check a packed forward equals
separate ones. The first token of each example is never a label, so no loss crosses a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from finetune.data import IGNORE, Example

TooLong = Literal["drop", "split"]


@dataclass
class Fitted:
    """What the length policy kept, and what it cost."""

    examples: list[Example] = field(default_factory=list)
    dropped: int = 0  # examples (or reply pairs) left out
    dropped_trained_tokens: int = 0


def fit(examples: list[Example], max_length: int, policy: TooLong) -> Fitted:
    fitted = Fitted()
    for example in examples:
        if len(example) <= max_length:
            fitted.examples.append(example)
        elif policy == "drop":
            fitted.dropped += 1
            fitted.dropped_trained_tokens += example.trained_tokens()
        else:
            _split(example, max_length, fitted)
    return fitted


def _split(example: Example, max_length: int, fitted: Fitted) -> None:
    units: list[list[tuple[list[int], bool]]] = [[]]  # each: the prompt segments, then the reply they led to
    for segment in example.segments:
        units[-1].append(segment)
        if segment[1]:
            units.append([])
    units.pop()  # the prompt after the last reply: nothing to learn from it
    head, units[0] = units[0][:-1], units[0][-1:]
    piece = Example(list(head), example.source)
    for unit in units:
        size = sum(len(ids) for ids, _ in unit)
        if len(piece) + size > max_length and len(piece.segments) > len(head):
            fitted.examples.append(piece)
            piece = Example(list(head), example.source)
        if len(piece) + size > max_length:
            fitted.dropped += 1
            fitted.dropped_trained_tokens += sum(len(ids) for ids, trained in unit if trained)
            continue
        piece.segments += unit
    if len(piece.segments) > len(head):
        fitted.examples.append(piece)


@dataclass
class Row:
    """One training row: several examples back to back."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)

    def add(self, example: Example) -> None:
        labels = example.labels
        labels[0] = IGNORE
        self.input_ids += example.input_ids
        self.labels += labels
        self.position_ids += list(range(len(example)))


def pack(examples: list[Example], max_length: int) -> list[Row]:
    """First-fit-decreasing into rows of at most `max_length` tokens."""
    rows: list[Row] = []
    for example in sorted(examples, key=len, reverse=True):
        row = next((r for r in rows if len(r.input_ids) + len(example) <= max_length), None)
        if row is None:
            row = Row()
            rows.append(row)
        row.add(example)
    return rows


def unpacked(examples: list[Example]) -> list[Row]:
    """One example per row: the padded baseline packing is measured against."""
    rows = []
    for example in examples:
        row = Row()
        row.add(example)
        rows.append(row)
    return rows
