"""JSON as sii accepts it from the model, its server or a recording, parsed into values everything downstream can
handle: strict JSON (no NaN or Infinity, which other readers of a recording reject), nested no deeper than the
recursive code downstream can walk (redaction, encoding, validation), and valid Unicode (no lone surrogates from
a `\\udc80` escape). The client reads replies with it, and `recordings.validate` judges recorded text by it."""

from __future__ import annotations

import json
import re
from typing import Any

from recordings.schema import unicode_safe

MAX_DEPTH = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # may stand for a lone surrogate


def object_field(value: Any, key: str) -> dict[str, Any]:
    """`value[key]` when `value` is an object holding an object there, else `{}`: the one way readers of untrusted
    JSON (imported trajectories, official results) step into a nested object without trusting its shape."""
    field = value.get(key) if isinstance(value, dict) else None
    return field if isinstance(field, dict) else {}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """The value `text` holds. Raises ValueError when it is not strict JSON or nests deeper than MAX_DEPTH."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from exc
    if _deeper_than(value, MAX_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text) or unicode_safe(text) is not text:
        dumped = json.dumps(value, ensure_ascii=False)
        cleaned = unicode_safe(dumped)
        value = value if cleaned is dumped else json.loads(cleaned)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
