"""When two queries ask for the same thing. Queries are normalized (lowercase, words of letters, digits and
`_` only, single spaces); two are duplicates when the normalized texts are equal, when difflib's
SequenceMatcher ratio of them is at least 0.9 (the same sentence, a few words changed), or when their sets of
words have a Jaccard index of at least 0.8 (the same words, reordered)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

RATIO = 0.9
JACCARD = 0.8


def normalize(query: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", query.lower()))


def similar(a: str, b: str) -> bool:
    """Whether two normalized queries count as duplicates."""
    if a == b:
        return True
    words_a, words_b = set(a.split()), set(b.split())
    if words_a and words_b and len(words_a & words_b) / len(words_a | words_b) >= JACCARD:
        return True
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= RATIO and matcher.ratio() >= RATIO


def duplicate_of(query: str, others: Iterable[tuple[str, str]]) -> str | None:
    """The key of the first (key, query) in `others` that duplicates `query`, else None."""
    mine = normalize(query)
    return next((key for key, other in others if similar(mine, normalize(other))), None)
