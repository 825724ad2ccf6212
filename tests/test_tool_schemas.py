"""The schemas the model is offered: byte for byte what they were before tools/schema.py built them
(tests/tool_schemas.json, captured from the hand-written dicts), valid JSON Schema, and enforced by the
dispatcher: a wrong type, an item of the wrong type, a value outside an enum or an argument the schema does not
declare is refused before the tool runs, for every argument of every built-in tool."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tools import Observation, Tool, ToolContext, ToolRegistry
from tools.default import default_registry
from tools.schema import array, boolean, integer, number, obj, string

FROZEN = Path(__file__).with_name("tool_schemas.json")
TOOLS = {schema["function"]["name"]: schema for schema in default_registry().schemas()}
# For each JSON type, values of every other type a model sends by mistake (2.0 and true are the sly ones).
WRONG: dict[str, list[Any]] = {
    "string": [5, 1.5, True, None, ["x"], {"x": "y"}],
    "integer": ["3", 2.0, 2.5, True, None, [1]],
    "number": ["1", True, None, [1.5]],
    "boolean": ["true", 1, 0, None, [True]],
    "array": ["a", {"0": "a"}, 1, None],
    "object": ["{}", ["a"], 1],
}


def valid(schema: dict[str, Any]) -> Any:
    """A value the schema accepts: the first enum value, or one of the declared type (objects: their required
    properties only)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema["type"]
    if kind == "array":
        return [valid(schema["items"])]
    if kind == "object":
        return {name: valid(schema["properties"][name]) for name in schema.get("required", ())}
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True}[kind]


Path_ = tuple[str | int, ...]


def mistakes(schema: dict[str, Any]) -> Iterator[tuple[Path_, Any]]:
    """(where inside a value of `schema`, a wrong value there), for the value itself and all it nests."""
    for wrong in WRONG[schema["type"]]:
        yield (), wrong
    if "enum" in schema:
        yield (), f"not-{schema['enum'][0]}"
    if schema["type"] == "array":
        yield from (((0, *where), wrong) for where, wrong in mistakes(schema["items"]))
    if schema["type"] == "object":
        for name, inner in schema["properties"].items():
            yield from (((name, *where), wrong) for where, wrong in mistakes(inner))


def put(schema: dict[str, Any], where: Path_, wrong: Any) -> Any:
    """A valid value of `schema`, except for `wrong` at `where`."""
    if not where:
        return wrong
    head, *rest = where
    if schema["type"] == "array":
        return [put(schema["items"], tuple(rest), wrong)]
    return {**valid(schema), head: put(schema["properties"][head], tuple(rest), wrong)}


def spelled(where: Path_) -> str:
    """As the dispatcher names an argument: todos[0].content."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where)[1:]


def cases() -> Iterator[Any]:
    for name, schema in TOOLS.items():
        parameters = schema["function"]["parameters"]
        for where, wrong in mistakes(parameters):
            if where:  # arguments that are no object at all: tests/test_malformed_replies.py
                label = f"{name}-{spelled(where)}-{json.dumps(wrong)}"
                yield pytest.param(name, put(parameters, where, wrong), spelled(where), id=label)


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[ToolRegistry, list[dict[str, Any]], ToolContext]]:
    """The built-in tools with their real schemas, each body replaced by a probe that notes the call, so a test
    sees whether the dispatcher let a call through."""
    calls: list[dict[str, Any]] = []

    def noted(arguments: dict[str, Any], _context: ToolContext) -> Observation:
        calls.append(arguments)
        return Observation("ran")

    tools = [tool for name in TOOLS if (tool := default_registry().get(name)) is not None]
    registry = ToolRegistry([dataclasses.replace(tool, run=noted) for tool in tools])
    context = ToolContext(workspace=tmp_path)
    yield registry, calls, context
    context.close()


def test_every_tool_is_offered_the_schema_it_was_offered_before() -> None:
    frozen = {schema["function"]["name"]: schema for schema in json.loads(FROZEN.read_text())}
    assert list(TOOLS) == list(frozen)
    for name, schema in TOOLS.items():
        assert json.dumps(schema, ensure_ascii=False) == json.dumps(frozen[name], ensure_ascii=False), name


@pytest.mark.parametrize("name", list(TOOLS))
def test_every_schema_is_valid_json_schema_and_closed(name: str) -> None:
    parameters = TOOLS[name]["function"]["parameters"]
    Draft202012Validator.check_schema(parameters)
    objects = [parameters]
    while objects:
        current = objects.pop()
        assert current["additionalProperties"] is False
        assert set(current.get("required", ())) <= set(current["properties"])
        for inner in current["properties"].values():
            objects += [part for part in (inner, inner.get("items", {})) if part.get("type") == "object"]


def test_a_valid_call_of_every_tool_reaches_the_tool(probe: tuple[ToolRegistry, list[Any], ToolContext]) -> None:
    """The other half of the cases below: the values they start from are accepted, so each refusal is the
    wrong value's doing."""
    registry, calls, context = probe
    for name, schema in TOOLS.items():
        arguments = valid(schema["function"]["parameters"])
        assert registry.dispatch(name, arguments, context).text == "ran", name
    assert len(calls) == len(TOOLS)


@pytest.mark.parametrize(("name", "arguments", "where"), list(cases()))
def test_a_wrong_type_anywhere_is_refused_before_the_tool_runs(
    probe: tuple[ToolRegistry, list[Any], ToolContext], name: str, arguments: dict[str, Any], where: str
) -> None:
    registry, calls, context = probe
    refused = registry.dispatch(name, arguments, context)
    assert refused.is_error and f"invalid arguments for {name}: argument {where!r}" in refused.text
    assert calls == []


@pytest.mark.parametrize("name", list(TOOLS))
def test_an_undeclared_argument_is_refused(probe: tuple[ToolRegistry, list[Any], ToolContext], name: str) -> None:
    registry, calls, context = probe
    arguments = {**valid(TOOLS[name]["function"]["parameters"]), "dry_run": True}
    refused = registry.dispatch(name, arguments, context)
    assert refused.is_error and "unexpected argument 'dry_run'" in refused.text and calls == []


def test_a_whole_number_written_as_a_float_is_not_an_integer(ctx: ToolContext) -> None:
    """JSON Schema itself counts 2.0 as an integer; read_file then sliced with a float, and git_log said the
    schema-valid call was wrong. The dispatcher refuses it, saying what came."""
    (ctx.workspace / "notes.txt").write_text("one\ntwo\n")
    registry = default_registry()
    for name, arguments in [("read_file", {"path": "notes.txt", "offset": 2.0}), ("git_log", {"max_count": 2.0})]:
        refused = registry.dispatch(name, arguments, ctx)
        assert refused.is_error and "must be of type integer, got number 2.0" in refused.text, refused.text
    assert registry.dispatch("read_file", {"path": "notes.txt", "offset": 2}, ctx).text.strip().endswith("two")


def test_the_builders_make_plain_json_schema() -> None:
    built = obj(
        {"required": boolean()},  # a name Python cannot take as a keyword argument here
        name=string("Who.", enum=["a", "b"], pattern="^[ab]$"),
        count=integer(minimum=1),
        ratio=number(),
        tags=array(obj(label=string(), required=["label"], closed=False)),
        required=["name"],
    )
    assert json.dumps(built) == json.dumps(
        {
            "type": "object",
            "properties": {
                "required": {"type": "boolean"},
                "name": {"type": "string", "enum": ["a", "b"], "description": "Who.", "pattern": "^[ab]$"},
                "count": {"type": "integer", "minimum": 1},
                "ratio": {"type": "number"},
                "tags": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]},
                },
            },
            "required": ["name"],
            "additionalProperties": False,
        }
    )
    Draft202012Validator.check_schema(built)


def test_a_required_argument_must_be_declared() -> None:
    with pytest.raises(ValueError, match="paht"):
        obj(path=string(), required=["paht"])
    assert Tool("t", "d", obj(), lambda _a, _c: Observation("")).schema()["function"]["parameters"] == obj()
