"""`todo_write`: the model's plan for a multi-step task, kept per session and shown to the user as a checklist
(like Claude Code's TodoWrite and Codex's update_plan). It changes nothing outside the session, so it needs no
approval. The list comes from the model: every item is checked, and its text is kept to one short line."""

from __future__ import annotations

from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.schema import array, obj, string
from tools.text import clip

STATUSES = ("pending", "in_progress", "completed")
MAX_ITEMS = 50
MAX_CONTENT_CHARS = 200


def checked_todos(value: Any) -> list[dict[str, str]]:
    """The list as the model sent it, each item validated; raises ToolError saying what to fix."""
    if not isinstance(value, list):
        raise ToolError("todos must be a list of {content, status} objects")
    if len(value) > MAX_ITEMS:
        raise ToolError(f"at most {MAX_ITEMS} items; keep the plan to the steps that matter")
    items: list[dict[str, str]] = []
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) != {"content", "status"}:
            raise ToolError(f"item {number} must be an object with exactly the keys content and status")
        content, status = item["content"], item["status"]
        if not isinstance(content, str) or not content.strip():
            raise ToolError(f"item {number}: content must be a non-empty string")
        if status not in STATUSES:
            raise ToolError(f"item {number}: status must be one of {', '.join(STATUSES)}, not {status!r}")
        items.append({"content": clip(" ".join(content.split()), MAX_CONTENT_CHARS), "status": status})
    if sum(item["status"] == "in_progress" for item in items) > 1:
        raise ToolError("at most one item may be in_progress: finish one step before starting the next")
    return items


def todo_write(args: dict[str, Any], ctx: ToolContext) -> Observation:
    items = checked_todos(args["todos"])
    ctx.todos = items
    counts = {status: sum(item["status"] == status for item in items) for status in STATUSES}
    text = (
        f"Todo list updated: {len(items)} item(s), {counts['completed']} completed, "
        f"{counts['in_progress']} in progress, {counts['pending']} pending."
    )
    if current := next((item["content"] for item in items if item["status"] == "in_progress"), None):
        text += f" Now: {current}"
    return Observation(text, data={"todos": items})


TODO_WRITE = Tool(
    "todo_write",
    "Keep a checklist of the steps of a multi-step task; the user sees it. Send the whole list each time (it "
    "replaces the last one). Mark one item in_progress while you work on it and each completed as soon as it is "
    "done. Skip it for a task of one or two steps.",
    obj(
        todos=array(
            obj(
                content=string("The step, in a few words."),
                status=string(enum=STATUSES),
                required=["content", "status"],
            )
        ),
        required=["todos"],
    ),
    todo_write,
)
