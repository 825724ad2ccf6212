"""Builders for the JSON schemas of tool arguments, so a tool says `obj(path=string("..."), required=["path"])`
instead of spelling out nested dicts (and cannot require an argument it never declared).

What they build is plain JSON Schema (draft 2020-12), the dicts the OpenAI function schema carries; the key
order is fixed (type, enum, items, properties, required, description, then any extra keywords), so a tool's
schema, and the model's prompt with it, is the same from run to run. `ToolRegistry.dispatch` validates every
call against it. Objects are closed (`additionalProperties: false`) unless `closed=False`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Schema = dict[str, Any]


def _leaf(kind: str, description: str | None, enum: Sequence[Any] | None, more: Mapping[str, Any]) -> Schema:
    schema: Schema = {"type": kind}
    if enum is not None:
        schema["enum"] = list(enum)
    if description is not None:
        schema["description"] = description
    return {**schema, **more}


def string(description: str | None = None, *, enum: Sequence[str] | None = None, **more: Any) -> Schema:
    """A string argument; `enum`: the only values allowed. `more`: further keywords (pattern, default...)."""
    return _leaf("string", description, enum, more)


def integer(description: str | None = None, **more: Any) -> Schema:
    """An integer argument (JSON true/false is not one). `more`: minimum, maximum, default..."""
    return _leaf("integer", description, None, more)


def number(description: str | None = None, **more: Any) -> Schema:
    """A number argument, integer or not (JSON true/false is not one)."""
    return _leaf("number", description, None, more)


def boolean(description: str | None = None, **more: Any) -> Schema:
    """A true/false argument. `more`: default..."""
    return _leaf("boolean", description, None, more)


def array(items: Schema, description: str | None = None, **more: Any) -> Schema:
    """A list whose every item matches `items`."""
    schema: Schema = {"type": "array", "items": items}
    if description is not None:
        schema["description"] = description
    return {**schema, **more}


def obj(
    properties: Mapping[str, Schema] | None = None,
    /,
    *,
    required: Sequence[str] = (),
    closed: bool = True,
    **named: Schema,
) -> Schema:
    """An object of the given properties (keyword arguments, or a mapping for names Python cannot take as one,
    such as `required`). Every name in `required` must be declared: a misspelt one would make every call fail."""
    declared = {**(properties or {}), **named}
    if undeclared := [name for name in required if name not in declared]:
        raise ValueError(f"required argument(s) {', '.join(undeclared)} not among the properties")
    schema: Schema = {"type": "object", "properties": declared}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema
