"""JSON Schemas derived from the type hints that declare the recording format (recordings.records), so the
types validate checks are the types the writer's callers are held to, declared once."""

from __future__ import annotations

import dataclasses
import types
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from recordings.schema import MESSAGE_SCHEMA, Message

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
# Hand-written where the recorded JSON is wider than the Python type (message content may be a list of parts).
_OVERRIDES: dict[Any, dict[str, Any]] = {Message: MESSAGE_SCHEMA}


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a value of type `hint`: scalars, Literal, unions, list, dict, TypedDict, dataclass, and
    `Annotated[dict, SomeDataclass]` (a dict holding the dataclass's fields). Objects stay open to other keys:
    a reader ignores fields it does not know."""
    if hint in _OVERRIDES:
        return _OVERRIDES[hint]
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, arguments = get_origin(hint), get_args(hint)
    if hint is Any:
        return {}
    if origin in (NotRequired, Required):  # whether a key is required is read from the TypedDict itself
        return json_schema(arguments[0])
    if origin is Annotated:
        return _object(arguments[1])
    if origin is Literal:
        return {"enum": list(arguments)}
    if origin in (Union, types.UnionType):
        return _union([json_schema(argument) for argument in arguments])
    if origin is list:
        items = json_schema(arguments[0]) if arguments else {}
        return {"type": "array", **({"items": items} if items else {})}
    if origin is dict or hint is dict:
        values = json_schema(arguments[1]) if arguments else {}
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    if is_typeddict(hint) or dataclasses.is_dataclass(hint):
        return _object(hint)
    raise TypeError(f"no JSON Schema for {hint!r}")


def _object(declared: Any) -> dict[str, Any]:
    hints = get_type_hints(declared, include_extras=True)
    if is_typeddict(declared):
        required = declared.__required_keys__
    else:
        required = frozenset(
            f.name
            for f in dataclasses.fields(declared)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: json_schema(hint) for name, hint in hints.items()},
    }
    return {**schema, "required": sorted(required)} if required else schema


def _union(arms: list[dict[str, Any]]) -> dict[str, Any]:
    """One finding per wrong value where the arms allow it: bare types as one `type` list, a Literal or None as
    one `enum`; anyOf otherwise."""
    if all(set(arm) == {"type"} and isinstance(arm["type"], str) for arm in arms):
        return {"type": [arm["type"] for arm in arms]}
    if all(set(arm) == {"enum"} or arm == {"type": "null"} for arm in arms):
        return {"enum": [value for arm in arms for value in arm.get("enum", [None])]}
    return {"anyOf": arms}
