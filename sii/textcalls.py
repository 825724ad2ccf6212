"""Tool calls that arrive as text, for servers without a tool-call parser: Hermes/Qwen
`<tool_call>{json}</tool_call>`, GLM-4.5 `<arg_key>/<arg_value>` and Qwen3-Coder `<function=..><parameter=..>`.
Broken JSON is repaired only where the fix is unambiguous; otherwise the raw text stays, and the tool
dispatcher answers it with a precise error the model can act on."""

from __future__ import annotations

import json
import re
from typing import Any

from recordings.schema import ToolCall

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
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    closed = _close_open_brackets(_TRAILING_COMMA.sub(r"\1", text))
    if closed is None:
        return None
    try:
        return json.loads(closed)
    except json.JSONDecodeError:
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


def _coerce(value: str) -> Any:
    """GLM and Qwen3-Coder send every argument as text; numbers, booleans, lists and objects are decoded."""
    stripped = value.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return value


def _parse_block(body: str) -> tuple[str, dict[str, Any] | str] | None:
    body = body.strip()
    if coder := _CODER_FUNCTION.search(body):
        arguments = {name: _coerce(value) for name, value in _CODER_PARAMETER.findall(coder.group(2))}
        return coder.group(1), arguments
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
    if name.strip() and re.fullmatch(r"[\w.\-]+", name.strip()):
        return name.strip(), {key.strip(): _coerce(value) for key, value in _GLM_ARG.findall(rest)}
    return None


def extract_text_tool_calls(content: str) -> tuple[str, list[ToolCall]]:
    """Split `content` into the prose and the tool calls written inside it. Unrecognised blocks stay prose."""
    if "<tool_call>" not in content and "<function=" not in content:
        return content, []
    blocks = list(_BLOCK.finditer(content)) or list(re.finditer(r"<function=.*?(?:</function>|$)", content, re.DOTALL))
    calls: list[ToolCall] = []
    prose = content
    for match in blocks:
        parsed = _parse_block(match.group(1) if match.re is _BLOCK else match.group(0))
        if parsed is None:
            continue
        name, arguments = parsed
        calls.append(
            {"id": f"call_text_{len(calls)}", "type": "function", "function": {"name": name, "arguments": arguments}}
        )
        prose = prose.replace(match.group(0), "", 1)
    return prose.strip(), calls
