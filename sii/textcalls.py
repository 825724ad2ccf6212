"""Tool calls that arrive as text, for servers without a tool-call parser: Hermes/Qwen
`<tool_call>{json}</tool_call>`, GLM-4.5 `<arg_key>/<arg_value>` and Qwen3-Coder `<function=..><parameter=..>`.
Broken JSON is repaired only where the fix is unambiguous; otherwise the raw text stays, and the tool
dispatcher answers it with a precise error the model can act on. GLM and Qwen3-Coder write every argument as
text; each is typed by the tool's schema, so text stays text (a file's JSON content is not decoded)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from recordings.schema import ToolCall
from recordings.strictjson import parse_json

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_GLM_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.DOTALL)
_CODER_FUNCTION = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_CODER_PARAMETER = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?(?:</parameter>|(?=<parameter=)|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def repair_json(raw: str) -> Any | None:
    """Parse `raw`, fixing only unambiguous damage: code fences, trailing commas, and brackets left open at
    the very end (a reply cut short). Returns None when the text is still not JSON."""
    text = _FENCE.sub("", raw.strip())
    for candidate in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return parse_json(candidate)
        except ValueError:
            continue
    closed = _close_open_brackets(_TRAILING_COMMA.sub(r"\1", text))
    if closed is None:
        return None
    try:
        return parse_json(closed)
    except ValueError:
        return None


def _close_open_brackets(text: str) -> str | None:
    """Append the closers a truncated JSON text lacks; None if its brackets are mismatched or a string is open."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = char == "\\" and not escaped
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and (not stack or stack.pop() != char):
            return None
    if in_string or not stack:
        return None
    return text + "".join(reversed(stack))


def _declared_types(schema: Any) -> set[str]:
    """The JSON types a parameter schema allows (`type`, or the branches of `anyOf`/`oneOf`); empty if unknown."""
    if not isinstance(schema, dict):
        return set()
    declared = schema.get("type")
    listed = [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
    types = {name for name in listed if isinstance(name, str)}
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            types |= set().union(*(_declared_types(branch) for branch in schema[key]))
    return types


def _coerce(value: str, schema: Any) -> Any:
    """An argument written as text, decoded as JSON only where its schema allows no string (a number, boolean,
    array or object). A string parameter, or one the schema does not know, keeps the text exactly."""
    types = _declared_types(schema)
    if not types or "string" in types:
        return value
    stripped = value.strip()
    if "boolean" in types and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    try:
        return parse_json(stripped)
    except ValueError:
        return value


def _typed(pairs: list[tuple[str, str]], parameters: Any) -> dict[str, Any]:
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    return {key: _coerce(value, properties.get(key)) for key, value in pairs}


def _parse_block(body: str, tools: Mapping[str, Any]) -> tuple[str, Any] | None:
    body = body.strip()
    if coder := _CODER_FUNCTION.search(body):
        name = coder.group(1)
        return name, _typed(_CODER_PARAMETER.findall(coder.group(2)), tools.get(name))
    if body.startswith("{") or body.startswith("```"):
        parsed = repair_json(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("name"), str):
            arguments = parsed.get("arguments", parsed.get("parameters", {}))
            if isinstance(arguments, str):  # some models double-encode
                decoded = repair_json(arguments)
                arguments = decoded if isinstance(decoded, dict) else arguments
            return parsed["name"], arguments
        name = re.search(r'"name"\s*:\s*"([^"]+)"', body)
        return (name.group(1), body) if name else None
    name, _, rest = body.partition("\n")
    name = name.strip()
    if name and re.fullmatch(r"[\w.\-]+", name):
        return name, _typed([(key.strip(), value) for key, value in _GLM_ARG.findall(rest)], tools.get(name))
    return None


def extract_text_tool_calls(content: str, tools: Mapping[str, Any]) -> tuple[str, list[ToolCall]]:
    """Split `content` into the prose and the tool calls written inside it. Unrecognised blocks stay prose.
    `tools`: each offered tool's parameter schema by name, which types GLM and Qwen3-Coder arguments. The
    arguments of a Hermes block come as the model wrote them (any JSON value, or text that is not JSON)."""
    if "<tool_call>" not in content and "<function=" not in content:
        return content, []
    blocks = list(_BLOCK.finditer(content)) or list(re.finditer(r"<function=.*?(?:</function>|$)", content, re.DOTALL))
    calls: list[ToolCall] = []
    prose = content
    for match in blocks:
        parsed = _parse_block(match.group(1) if match.re is _BLOCK else match.group(0), tools)
        if parsed is None:
            continue
        name, arguments = parsed
        calls.append(
            {"id": f"call_text_{len(calls)}", "type": "function", "function": {"name": name, "arguments": arguments}}
        )
        prose = prose.replace(match.group(0), "", 1)
    return prose.strip(), calls
