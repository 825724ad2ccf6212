"""Logs in Gemini's `Content` shape (`role` user/model, `parts` with `text`, `functionCall`, `functionResponse`,
`thought`): SII CLI conversation logs, Gemini CLI chats and checkpoints, Qwen Code chat records.

SII CLI logs are read the way LIMI's `scripts/data_prepare/events2messages.py` reads them: the last
`api_request_full` event's `data.full_request.messages` holds the conversation; tools are every
`functionDeclarations` entry seen in any request (first one of a name wins, types lower-cased), and the system
message is the last `system_instruction` followed by LIMI's list of the tools, so the data matches LIMI's.
Unlike LIMI, a request that holds fewer messages than the one before (the agent compacted its history) keeps
the earlier conversation as its own context, `thought` parts become reasoning rather than text, and a
`functionResponse` without `output` keeps its `error` (or the whole response) instead of becoming empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recordings.importers.common import ImportedSession, json_lines, load_json, lower_types, parse_iso, text_of
from recordings.schema import Message, ToolCall
from recordings.strictjson import object_field


class _Ids:
    """Tool-call ids for one conversation: a call without one gets `call_<n>`; a response without one answers
    the oldest open call of its name (Gemini matches responses to calls by name and order)."""

    def __init__(self) -> None:
        self.count = 0
        self.open: list[tuple[str, str]] = []  # (id, name) of calls not answered yet

    def call(self, given: Any, name: str) -> str:
        self.count += 1
        call_id = given if isinstance(given, str) and given else f"call_{self.count}"
        self.open.append((call_id, name))
        return call_id

    def response(self, given: Any, name: str) -> str:
        for index, (call_id, call_name) in enumerate(self.open):
            if call_id == given or (not given and call_name == name):
                del self.open[index]
                return call_id
        return given if isinstance(given, str) and given else f"unmatched_{name}"


def _result_text(response: Any) -> str:
    if isinstance(response, dict):
        for key in ("output", "error"):
            if key in response:
                return text_of(response[key])
    return text_of(response)


def contents_to_messages(contents: list[Any], ids: _Ids | None = None) -> list[Message]:
    """OpenAI messages of Gemini contents: each user text part is a user message (as LIMI splits them), each
    functionResponse a tool message; a model turn is one assistant message (text joined, calls in order)."""
    ids = ids or _Ids()
    messages: list[Message] = []
    for content in contents:
        if not isinstance(content, dict):
            continue
        parts = [part for part in content.get("parts") or [] if isinstance(part, dict)]
        if content.get("role") == "model":
            messages.append(_model_message(parts, ids))
            continue
        for part in parts:
            if isinstance(part.get("functionResponse"), dict):
                response = part["functionResponse"]
                name = str(response.get("name", ""))
                call_id = ids.response(response.get("id"), name)
                messages.append(
                    {"role": "tool", "content": _result_text(response.get("response")), "tool_call_id": call_id}
                )
            elif "text" in part:
                messages.append({"role": "user", "content": text_of(part["text"])})
    return messages


def _model_message(parts: list[dict[str, Any]], ids: _Ids) -> Message:
    text, thoughts, calls = "", [], []
    for part in parts:
        if isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            name = str(call.get("name", ""))
            arguments = object_field(call, "args")
            tool_call: ToolCall = {
                "id": ids.call(call.get("id"), name),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            calls.append(tool_call)
        elif "text" in part and part.get("thought"):
            thoughts.append(text_of(part["text"]))
        elif "text" in part:
            text += text_of(part["text"])
    message: Message = {"role": "assistant", "content": text}
    if thoughts:
        message["reasoning"] = "\n\n".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    return message


def declarations_to_tools(groups: list[Any], tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """OpenAI tool schemas of Gemini `tools[].functionDeclarations`, added to `tools` unless a tool of the same
    name is there already."""
    tools = tools if tools is not None else []
    seen = {tool["function"]["name"] for tool in tools}
    for group in groups:
        for declaration in (group or {}).get("functionDeclarations") or [] if isinstance(group, dict) else []:
            name = declaration.get("name") if isinstance(declaration, dict) else None
            if not isinstance(name, str) or not name or name in seen:
                continue
            seen.add(name)
            function = {
                "name": name,
                "description": declaration.get("description", ""),
                "parameters": lower_types(
                    declaration.get("parameters") or declaration.get("parametersJsonSchema") or {}
                ),
            }
            tools.append({"type": "function", "function": function, "_raw": declaration})
    return tools


def limi_system_prompt(system: str, tools: list[dict[str, Any]]) -> str:
    """The system prompt LIMI trains with: the agent's own, then a numbered list of the tools and their
    parameters (types as the agent declared them, before lower-casing)."""
    if not tools:
        return system
    listing = "\n\nYou have access to the following tools:\n\n"
    for number, tool in enumerate(tools, 1):
        raw = tool["_raw"]
        listing += f"{number}. **{raw.get('name')}**: {raw.get('description', '')}\n"
        parameters = raw.get("parameters") or {}
        if isinstance(parameters, dict) and isinstance(parameters.get("properties"), dict):
            listing += "   Parameters:\n"
            for name, info in parameters["properties"].items():
                info = info if isinstance(info, dict) else {}
                required = " (required)" if name in (parameters.get("required") or []) else ""
                listing += f"   - {name} ({info.get('type', 'unknown')}){required}: {info.get('description', '')}\n"
        listing += "\n"
    listing += (
        "Use these tools by making function calls in your responses when appropriate. "
        "Each tool call should include the function name and required parameters."
    )
    return system + listing


def _system_text(instruction: Any) -> str:
    if isinstance(instruction, dict):  # a Content: {"parts": [{"text": ...}]}
        return text_of(instruction.get("parts") or instruction.get("text"))
    return text_of(instruction)


def _public(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in tool.items() if key != "_raw"} for tool in tools]


def read_sii_cli(path: Path) -> ImportedSession:
    log = load_json(path)
    if not isinstance(log, dict) or not isinstance(log.get("events"), list):
        raise ValueError(f"{path}: not an SII CLI conversation log (no events)")
    requests = [
        event["data"]["full_request"]
        for event in log["events"]
        if isinstance(event, dict)
        and event.get("type") == "api_request_full"
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("full_request"), dict)
    ]
    if not requests:
        raise ValueError(f"{path}: no api_request_full events")
    tools: list[dict[str, Any]] = []
    system = ""
    kept: list[tuple[str, list[Any]]] = []  # (system, messages) of each request that ends a context
    previous: list[Any] | None = None
    for request in requests:
        declarations_to_tools(request.get("tools") or [], tools)
        if "system_instruction" in request:
            system = _system_text(request["system_instruction"])
        messages = request.get("messages") if isinstance(request.get("messages"), list) else []
        if previous is not None and len(messages) < len(previous):  # compacted: the old context ends here
            kept.append((system, previous))
        previous = messages
    kept.append((system, previous or []))
    contexts = []
    for system_text, messages in kept:
        prompt = limi_system_prompt(system_text, tools)
        head: list[Message] = [{"role": "system", "content": prompt}] if prompt else []
        contexts.append(head + contents_to_messages(messages))
    return ImportedSession(
        source="sii-cli",
        contexts=contexts,
        tools=_public(tools),
        model=str(log.get("model") or "unknown"),
        started_at=parse_iso(log.get("created")) if not isinstance(log.get("created"), int | float) else log["created"],
        source_id=str(log["id"]) if log.get("id") else None,
    )


def read_gemini(path: Path) -> ImportedSession:
    """Gemini CLI: a chat recording (`chats/session-*.json`: `messages` of type user/gemini with `toolCalls`
    and `thoughts`) or a `/chat save` checkpoint (a list of Contents, or `{"history": [...]}`)."""
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return _gemini_recording(data)
    history = data.get("history") if isinstance(data, dict) else data
    if not isinstance(history, list):
        raise ValueError(f"{path}: not a Gemini CLI chat")
    return ImportedSession(source="gemini", contexts=[contents_to_messages(history)])


def _gemini_recording(data: dict[str, Any]) -> ImportedSession:
    messages: list[Message] = []
    model = "unknown"
    for record in data["messages"]:
        if not isinstance(record, dict):
            continue
        kind = record.get("type")
        if kind == "user":
            messages.append({"role": "user", "content": text_of(record.get("content"))})
        elif kind == "gemini":
            model = str(record.get("model") or model)
            messages += _gemini_turn(record)
    return ImportedSession(
        source="gemini",
        contexts=[messages],
        model=model,
        started_at=parse_iso(data.get("startTime")),
        source_id=str(data["sessionId"]) if data.get("sessionId") else None,
    )


def _gemini_turn(record: dict[str, Any]) -> list[Message]:
    """One recorded model turn: its text, thoughts as reasoning, and each tool call with the result recorded
    on it (a list of parts holding the functionResponse)."""
    thoughts = [
        ": ".join(str(t[key]) for key in ("subject", "description") if t.get(key))
        for t in record.get("thoughts") or []
        if isinstance(t, dict)
    ]
    message: Message = {"role": "assistant", "content": text_of(record.get("content"))}
    if any(thoughts):
        message["reasoning"] = "\n\n".join(t for t in thoughts if t)
    results: list[Message] = []
    calls: list[ToolCall] = []
    for number, call in enumerate(record.get("toolCalls") or []):
        if not isinstance(call, dict):
            continue
        call_id = str(call.get("id") or f"{record.get('id', 'turn')}_{number}")
        arguments = object_field(call, "args")
        calls.append(
            {"id": call_id, "type": "function", "function": {"name": str(call.get("name", "")), "arguments": arguments}}
        )
        if call.get("result") is not None or call.get("status") in ("error", "cancelled"):
            results.append({"role": "tool", "tool_call_id": call_id, "content": _recorded_result(call)})
    if calls:
        message["tool_calls"] = calls
    return [message, *results]


def _recorded_result(call: dict[str, Any]) -> str:
    result = call.get("result")
    parts = result if isinstance(result, list) else [result]
    texts = [
        _result_text(part["functionResponse"].get("response"))
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict)
        else text_of(part.get("text") if isinstance(part, dict) else part)
        for part in parts
        if part is not None
    ]
    text = "\n".join(t for t in texts if t)
    return text or str(call.get("resultDisplay") or call.get("status") or "")


def read_qwen(path: Path) -> ImportedSession:
    """Qwen Code chat records (JSON lines, each with a Gemini `message` Content; tool results are `tool_result`
    records whose message holds the functionResponse parts). A record whose `parentUuid` is not the previous
    one's `uuid` starts a branch: the conversation is the chain that ends at the last record."""
    records = [r for r in json_lines(path) if isinstance(r.get("message"), dict)]
    if not records:
        raise ValueError(f"{path}: no Qwen Code chat records")
    by_uuid = {r.get("uuid"): r for r in records if r.get("uuid")}
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    record: dict[str, Any] | None = records[-1]
    while record is not None and id(record) not in seen:  # a cycle in hostile data ends the walk
        seen.add(id(record))
        chain.append(record)
        record = by_uuid.get(record.get("parentUuid")) if record.get("parentUuid") else None
    chain.reverse()
    if len(chain) == 1 and len(records) > 1:  # no uuids: the file order is the conversation
        chain = records
    ids = _Ids()
    messages = [m for r in chain for m in contents_to_messages([r["message"]], ids)]
    model = next((str(r["model"]) for r in reversed(chain) if r.get("model")), "unknown")
    return ImportedSession(
        source="qwen",
        contexts=[messages],
        model=model,
        started_at=parse_iso(chain[0].get("timestamp")),
        workspace=str(chain[0].get("cwd") or ""),
        source_id=str(chain[0]["sessionId"]) if chain[0].get("sessionId") else None,
    )


def looks_like(data: Any) -> str | None:
    """Which of these formats a parsed JSON document is, if any."""
    events = data.get("events") if isinstance(data, dict) else None
    if isinstance(events, list) and any(isinstance(e, dict) and e.get("type") == "api_request_full" for e in events):
        return "sii-cli"
    if isinstance(data, dict) and isinstance(data.get("messages"), list) and "sessionId" in data:
        return "gemini"
    history = data.get("history") if isinstance(data, dict) else data
    if isinstance(history, list) and history and all(isinstance(c, dict) and "parts" in c for c in history):
        return "gemini"
    return None
