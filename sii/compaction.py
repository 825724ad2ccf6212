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
