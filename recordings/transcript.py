"""A recording as a readable transcript in the terminal (`sii recordings show`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from recordings.records import kind_of, shown
from recordings.schema import Trajectory

FOLDED_LINES = 30


def _folded(text: str, full: bool) -> str:
    lines = text.splitlines()
    if full or len(lines) <= FOLDED_LINES:
        return text
    return "\n".join(lines[:FOLDED_LINES]) + f"\n… {len(lines) - FOLDED_LINES} more lines (--full shows them)"


def _header(trajectory: Trajectory) -> RenderableType:
    meta = trajectory.meta
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.started_at))
    facts = [
        f"session {meta.session_id} · {started} · {meta.face}",
        f"model {meta.model} at {meta.base_url}",
        f"workspace {meta.workspace}" + (f" ({meta.git_remote})" if meta.git_remote else ""),
        f"outcome {meta.outcome or '-'} · {trajectory.token_count():,} tokens · {len(trajectory.messages)} messages",
    ]
    facts += [f"note: {note}" for note in meta.notes]
    facts += [f"tags: {', '.join(meta.tags)}"] if meta.tags else []
    if trajectory.redactions:
        facts.append("redacted: " + ", ".join(f"{kind} ×{count}" for kind, count in trajectory.redactions.items()))
    return Panel("\n".join(facts), title="recording", expand=False)


def _message(message: Mapping[str, Any], extra: dict, full: bool) -> RenderableType:
    role = message["role"]
    if role == "system":
        shown = message["content"] if full else f"({len(message['content'] or '')} characters)"
        return Text(f"system prompt {shown}", "dim magenta")
    if role == "user":
        return Panel(Markdown(message["content"] or ""), title="user", title_align="left", style="blue")
    if role == "assistant":
        parts: list[RenderableType] = []
        if message.get("reasoning"):
            parts.append(Text(_folded(message["reasoning"], full), "dim italic"))
        if message.get("content"):
            parts.append(Markdown(message["content"]))
        for call in message.get("tool_calls", []):
            arguments = call["function"]["arguments"]
            if isinstance(arguments, dict):
                arguments = json.dumps(arguments, indent=2, ensure_ascii=False)
            parts.append(Text(f"⏺ {call['function']['name']}", "cyan"))
            parts.append(Syntax(_folded(arguments, full), "json", theme="ansi_dark", background_color="default"))
        return Panel(Group(*parts), title="assistant", title_align="left", style="green")
    result = Text(
        "  ⎿ " + _folded(message["content"] or "", full).replace("\n", "\n    "),
        "red" if extra.get("is_error") else "dim",
    )
    diff = (extra.get("data") or {}).get("diff")
    if not diff:
        return result
    return Group(result, Syntax(_folded(diff, full), "diff", theme="ansi_dark", background_color="default"))


def render_transcript(trajectory: Trajectory, console: Console, full: bool = False) -> None:
    """Messages in order, with compactions, rewinds, interrupted turns and the other events the format shows
    (recordings.records) where they happened."""
    console.print(_header(trajectory))
    entries: list[tuple[float, RenderableType]] = [
        (extra.get("time", 0.0), _message(message, extra, full))
        for message, extra in zip(trajectory.messages, trajectory.extras, strict=False)
    ]
    for event in trajectory.events:
        if (text := shown(event)) is not None:
            declared = kind_of(event)
            style = "red" if declared is not None and declared.alarm else "yellow"
            entries.append((event.get("time", 0.0), Text(f"── {text} ──", style)))
    for _, renderable in sorted(entries, key=lambda entry: entry[0]):
        console.print(renderable)
