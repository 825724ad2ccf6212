"""Compaction: when the conversation nears the context window, the model summarises it and the summary
replaces the turns it covers. The recording keeps both the original turns and the new view."""

from __future__ import annotations

import json

from recordings.schema import Message

SUMMARY_PROMPT = """Summarise this conversation so that you can continue the work without it. Keep: the user's
requests and constraints, decisions made, files read or changed (with paths) and what changed, commands
run and their important results, errors met and how they were solved, and what remains to do. Be specific
and concise; write plain text, no tool calls."""
WINDOW_SHARE = 0.85  # compact when the next request would fill more than this share of the window
REPLY_FLOOR = 512  # the smallest reply worth asking for, in tokens
ESTIMATE_SLACK = 20  # 1/20 of the window stays free for the error of the ~4 characters a token estimate
OMITTED = "\n\n[... {} characters of the conversation left out to fit the context window ...]\n\n"


def estimate_tokens(messages: list[Message], tools: list[dict], measured_tokens: int, measured_upto: int) -> int:
    """The server's count for the messages it has seen, plus ~4 characters a token for the rest."""
    unseen = json.dumps(messages[measured_upto:]) if measured_tokens else json.dumps(tools) + json.dumps(messages)
    return measured_tokens + len(unseen) // 4


def needs_compaction(estimated_tokens: int, window: int | None, reply_tokens: int) -> bool:
    return window is not None and estimated_tokens + reply_tokens > WINDOW_SHARE * window


def compacted_view(messages: list[Message], summary: str, current_request: str | None) -> list[Message]:
    """What the model sees after compaction: the system prompt, then one user message with the summary (and
    the request in progress, when compaction happened mid-turn)."""
    text = f"This session continues an earlier conversation that was compacted. Summary:\n\n{summary}"
    if current_request:
        text += f"\n\nThe request in progress (continue working on it):\n\n{current_request}"
    return [messages[0], {"role": "user", "content": text}]


def reply_reserve(window: int, requested: int | None) -> int:
    """The reply room that compaction keeps free: the configured max_tokens, but no more than an eighth of a
    small window (a 4,096-token window with max_tokens 4,096 would otherwise compact before every call)."""
    return min(requested or window, max(REPLY_FLOOR, window // 8))


def reply_budget(estimated_tokens: int, window: int, requested: int | None) -> int:
    """max_tokens for the next request: what the window leaves after the prompt, at most `requested` and at
    least the floor (when even that does not fit, the server's refusal leads to compaction)."""
    ceiling = requested or window
    room = window - estimated_tokens - window // ESTIMATE_SLACK
    return max(min(ceiling, room), min(ceiling, REPLY_FLOOR))


def summary_budget(window: int, requested: int | None) -> tuple[int, int]:
    """(max_tokens of the summary, the prompt tokens its request may use) for a window."""
    reply = min(requested or window, max(REPLY_FLOOR, window // 4))
    return reply, window - reply - window // ESTIMATE_SLACK


def transcript(messages: list[Message]) -> str:
    """The conversation as plain text, for a summary request that cannot hold the messages themselves."""
    parts = []
    for message in messages:
        text = f"{message['role']}: {message.get('content') or ''}".rstrip()
        for call in message.get("tool_calls") or []:
            text += f"\n[called {call['function']['name']}({json.dumps(call['function']['arguments'])})]"
        parts.append(text)
    return "\n\n".join(parts)


def summary_request(messages: list[Message], prompt: str, budget_tokens: int | None) -> list[Message]:
    """The request that asks for a summary. When the conversation does not fit `budget_tokens`, its oldest
    middle is left out: the system prompt, the start (the task, an earlier summary) and the newest turns stay."""
    request: Message = {"role": "user", "content": prompt}
    whole = [*messages, request]
    if budget_tokens is None or estimate_tokens(whole, [], 0, 0) <= budget_tokens:
        return whole
    system, rest = messages[0], transcript(messages[1:])
    fixed = estimate_tokens([system, {"role": "user", "content": prompt}], [], 0, 0) + len(OMITTED) // 4 + 16
    expansion = len(json.dumps(rest)) / max(len(rest), 1)  # JSON escaping of newlines and quotes
    keep = max(0, int((budget_tokens - fixed) * 4 / expansion))
    if len(rest) > keep:
        head = keep // 4
        rest = rest[:head] + OMITTED.format(len(rest) - keep) + rest[len(rest) - (keep - head) :]
    text = f"The conversation so far, as a transcript:\n\n{rest}\n\n{prompt}"
    return [system, {"role": "user", "content": text}]
