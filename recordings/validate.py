"""Checks that a recording is usable training data: readable, well-formed messages, every tool call answered
by exactly one result in the same context, and no result without its call."""

from __future__ import annotations

from recordings.schema import Trajectory

ROLES = {"system", "user", "assistant", "tool"}


def problems(trajectory: Trajectory) -> list[str]:
    """Human-readable problems; an empty list means the trajectory is valid."""
    found = []
    if trajectory.skipped_lines:
        found.append(f"{trajectory.skipped_lines} unreadable line(s) skipped (a torn write)")
    for number, context in enumerate(trajectory.contexts or [trajectory.messages], start=1):
        where = f"context {number}" if len(trajectory.contexts) > 1 else "conversation"
        pending: dict[str, int] = {}
        for index, message in enumerate(context):
            role = message.get("role")
            if role not in ROLES:
                found.append(f"{where}, message {index}: unknown role {role!r}")
                continue
            if role == "assistant":
                for call in message.get("tool_calls", []):
                    if not call.get("id"):
                        found.append(f"{where}, message {index}: a tool call without an id")
                    elif call["id"] in pending:
                        found.append(f"{where}, message {index}: tool call id {call['id']!r} used twice")
                    if not isinstance(call.get("function", {}).get("arguments"), dict):
                        found.append(f"{where}, message {index}: arguments of {call['id']!r} are not a JSON object")
                    pending[call.get("id", "")] = index
            elif role == "tool":
                call_id = message.get("tool_call_id")
                if call_id not in pending:
                    found.append(f"{where}, message {index}: result for unknown tool call {call_id!r}")
                pending.pop(call_id, None)
            elif pending:
                found.append(f"{where}, message {index}: {role} message before tool calls were answered")
                pending.clear()
        found += [f"{where}: tool call {call_id!r} was never answered" for call_id in pending]
    return found
