"""Fitting examples into rows of at most `max_length` tokens.

Too long (LIMI's samples average 42k tokens, up to 152k): "drop" skips the example; "split" cuts it at turn
boundaries into pieces that each start with the example's head (system prompt, tools, first user message:
the task) followed by consecutive (prompt, reply) pairs, so every reply keeps the task and the turns just
before it as context. A pair that does not fit even beside the head alone is dropped.

Rows: each training step gets one row of examples, at most `max_length` tokens, laid out one of two ways so
that attention memory grows linearly with the length (no dense L x L mask is ever built):
- "varlen" (GPU with flash attention): examples packed first-fit-decreasing into one sequence, `position_ids`
  restarting at 0 for each; flash attention's variable-length kernel reads the restarts as boundaries.
- "padded" (everywhere else, CPU included): examples bucketed by length, one per batch line, right-padded.
  Plain causal attention then needs no mask at all (pads come after every real token, and are not trained),
  so SDPA runs its memory-efficient kernel. Bucketing neighbours in length keeps the padding small.
Either way no token sees another example. The first token of each example is never a label, so no loss crosses
a boundary in the packed layout.
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


Layout = Literal["varlen", "padded"]


@dataclass
class Row:
    """One training step's examples: token ids and labels of each."""

    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)

    def add(self, example: Example) -> None:
        labels = example.labels
        labels[0] = IGNORE
        self.input_ids.append(example.input_ids)
        self.labels.append(labels)

    def tokens(self) -> int:
        return sum(len(ids) for ids in self.input_ids)

    def processed(self, layout: Layout) -> int:
        """Tokens the model runs on, padding included."""
        return self.tokens() if layout == "varlen" else len(self.input_ids) * max(map(len, self.input_ids))


def rows_for(examples: list[Example], max_length: int, layout: Layout) -> list[Row]:
    return pack(examples, max_length) if layout == "varlen" else bucket(examples, max_length)


def pack(examples: list[Example], max_length: int) -> list[Row]:
    """First-fit-decreasing into rows of at most `max_length` tokens."""
    rows: list[Row] = []
    for example in sorted(examples, key=len, reverse=True):
        row = next((r for r in rows if r.tokens() + len(example) <= max_length), None)
        if row is None:
            row = Row()
            rows.append(row)
        row.add(example)
    return rows


def bucket(examples: list[Example], max_length: int) -> list[Row]:
    """Longest first, each row as many neighbours in length as fit padded: lines x longest <= `max_length`."""
    rows: list[Row] = []
    for example in sorted(examples, key=len, reverse=True):
        if not rows or (len(rows[-1].input_ids) + 1) * len(rows[-1].input_ids[0]) > max_length:
            rows.append(Row())
        rows[-1].add(example)
    return rows
