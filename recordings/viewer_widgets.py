"""How the viewer shows one recording: its records read back in file order (messages with the extras the store
keeps beside them, events where they happened), grouped into turns, since a turn is what a curator excludes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from recordings.records import kind_of, shown
from recordings.schema import Message, SessionMeta
from recordings.store import iter_records, read_trajectory

RESULT_LINES = 12  # tool results longer than this start collapsed
BATCH = 10  # turns mounted at a time: a long session shows its start at once and the rest as it mounts


@dataclass
class Turn:
    """A user message and everything up to the next one; `start` is its index in `Trajectory.messages`
    (None for what precedes the first user message, which cannot be excluded)."""

    start: int | None
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SessionView:
    path: Path
    meta: SessionMeta
    turns: list[Turn]
    main_arguments: dict[str, str]  # tool name -> the argument a call's summary shows
    tags: list[str]
    excluded: set[int]  # `start` of each turn excluded from training


def load_session(path: Path) -> SessionView:
    """The records in order (events where they happened), grouped into turns; labels, tags and exclusions as
    the store folds them."""
    trajectory = read_trajectory(path)
    records = [record for record in iter_records(path) if record is not None]
    turns = [Turn(None)]
    index = 0
    for record in records:
        if record.get("type") == "message":
            if record["message"]["role"] == "user":
                turns.append(Turn(index))
            index += 1
        turns[-1].records.append(record)
    tools: list[dict[str, Any]] = next((r.get("tools", []) for r in records if r.get("type") == "session"), [])
    main_arguments = {
        tool["function"]["name"]: required[0]
        for tool in tools
        if (required := tool["function"].get("parameters", {}).get("required"))
    }
    turns = [turn for turn in turns if turn.start is not None or any(r.get("type") == "message" for r in turn.records)]
    meta = trajectory.meta
    return SessionView(path, meta, turns, main_arguments, meta.tags, trajectory.excluded_turns)


class Fold(Widget, can_focus=True):
    """A one-line title that opens onto its body (enter or click). One widget where Collapsible mounts four,
    so a session with hundreds of tool calls still opens quickly."""

    DEFAULT_CSS = """
    Fold { height: auto; padding: 0 1; }
    Fold:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter,space", "toggle_fold", "open/close", show=False)]
    collapsed = reactive(True, layout=True)

    def __init__(self, title: str, body: RenderableType, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.title = title
        self.body = body

    def render(self) -> RenderableType:
        title = Text(("▶ " if self.collapsed else "▼ ") + self.title)
        return title if self.collapsed else Group(title, Padding(self.body, (0, 0, 0, 2)))

    def action_toggle_fold(self) -> None:  # not `toggle`: Textual's own action of that name toggles an attribute
        self.collapsed = not self.collapsed

    def on_click(self) -> None:
        self.action_toggle_fold()


def summarize_call(name: str, arguments: dict[str, Any] | str, main: str | None) -> str:
    """`name(main argument)`: the tool's first required argument, else its first one."""
    if isinstance(arguments, str):
        return f"{name}(<invalid JSON>)"
    value = arguments.get(main) if main in arguments else next(iter(arguments.values()), "")
    shown = value if isinstance(value, str) else json.dumps(value)
    first = shown.splitlines()[0] if shown else ""
    return f"{name}({first[:80]}{'…' if len(shown) > len(first[:80]) else ''})"


def message_widgets(record: dict[str, Any], main_arguments: dict[str, str]) -> Iterator[Widget]:
    message: Message = record["message"]
    content = message.get("content") or ""
    role = message["role"]
    if role == "system":
        title = f"system prompt ({len(content.splitlines())} lines)"
        yield Fold(title, Text(content), classes="system")
    elif role == "user":
        yield Static(Markdown(content), classes="user")
    elif role == "assistant":
        if reasoning := message.get("reasoning"):
            title = "thinking: " + (reasoning.strip().splitlines() or [""])[0][:80]
            yield Fold(title, Text(reasoning, style="dim italic"), classes="reasoning")
        if content:
            yield Static(Markdown(content), classes="assistant")
        for call in message.get("tool_calls", []):
            function = call["function"]
            arguments = function["arguments"]
            shown = json.dumps(arguments, indent=2, ensure_ascii=False) if isinstance(arguments, dict) else arguments
            body = Syntax(shown, "json", theme="ansi_dark", background_color="default")
            title = "⏺ " + summarize_call(function["name"], arguments, main_arguments.get(function["name"]))
            yield Fold(title, body, classes="call")
    else:
        yield from result_widgets(content, record)


def result_widgets(content: str, record: dict[str, Any]) -> Iterator[Widget]:
    """A tool result: its diff (if the tool recorded one) always shown, its text collapsed when long."""
    if diff := (record.get("data") or {}).get("diff"):
        yield Static(Syntax(diff, "diff", theme="ansi_dark", background_color="default"), classes="diff")
    lines = content.splitlines()
    style = "red" if record.get("is_error") else "dim"
    if len(lines) > RESULT_LINES:
        title = f"⎿ {lines[0][:80]} … ({len(lines)} lines)"
        yield Fold(title, Text(content, style=style), classes="result")
    else:
        yield Static(Text("⎿ " + content, style=style), classes="result")


def event_widgets(record: dict[str, Any]) -> Iterator[Widget]:
    """Compactions, rewinds, interruptions and the like as separators (their text from the format's table,
    recordings.records); a compaction's summary folds under its line. Bookkeeping records are not shown."""
    text = shown(record)
    if text is None:
        return
    if isinstance(summary := record.get("summary"), str) and summary:
        yield Fold(f"── {text} ──", Markdown(summary), classes="event")
    else:
        declared = kind_of(record)
        style = "red" if declared is not None and declared.alarm else "yellow"
        yield Static(Text(f"── {text} ──", style=style), classes="event")


class TurnView(Vertical):
    """One turn of the transcript; a click makes it the turn curation keys act on."""

    class Picked(TextualMessage):
        def __init__(self, turn: TurnView) -> None:
            super().__init__()
            self.turn = turn

    def __init__(self, turn: Turn, main_arguments: dict[str, str], excluded: bool) -> None:
        super().__init__(classes="turn")
        self.turn = turn
        self._main_arguments = main_arguments
        self.set_excluded(excluded)

    def compose(self) -> Iterator[Widget]:
        for record in self.turn.records:
            if record.get("type") == "message":
                yield from message_widgets(record, self._main_arguments)
            else:
                yield from event_widgets(record)

    def set_excluded(self, excluded: bool) -> None:
        self.set_class(excluded, "excluded")
        self.border_title = "excluded from training" if excluded else None

    def on_click(self) -> None:
        self.post_message(self.Picked(self))


def header_text(view: SessionView) -> Text:
    meta = view.meta
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.started_at))
    text = Text.assemble((meta.session_id, "bold"), f"  {started}  {meta.model}  ({meta.face})  {meta.workspace}\n")
    text.append(f"outcome: {meta.outcome or '-'}", style={"success": "green", "fail": "red"}.get(meta.outcome or ""))
    text.append(f"   tags: {', '.join(view.tags) or '-'}   excluded turns: {len(view.excluded)}")
    for note in meta.notes:
        text.append(f"\nnote: {note}", style="italic")
    return text


class Transcript(VerticalScroll):
    """The selected session, turn by turn, with a cursor on the turn that `x` excludes. Turns mount in batches
    in the background, so a long session shows its start at once."""

    DEFAULT_CSS = """
    Transcript .turn { height: auto; padding: 0 1; border-left: blank; }
    Transcript .turn.cursor { border-left: thick $accent; }
    Transcript .turn.excluded { background: $error 15%; border-top: solid $error; border-title-color: $error; }
    Transcript #header { padding: 0 1; margin-bottom: 1; background: $boost; }
    Transcript .user { border: round $accent; padding: 0 1; margin-top: 1; }
    Transcript .assistant { padding: 0 1; }
    Transcript .event { margin: 1 0; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: SessionView | None = None
        self.turns: list[TurnView] = []  # the mounted ones, in order
        self.cursor = 0

    async def show(self, view: SessionView | None) -> None:
        """Rebuild the transcript for `view` (empty when no session is highlighted)."""
        self.workers.cancel_group(self, "turns")
        self.view, self.turns, self.cursor = view, [], 0
        await self.remove_children()
        if view is not None:
            await self.mount(Static(header_text(view), id="header"))
            self.scroll_home(animate=False)
            self._mount_turns(view)

    @work(group="turns")
    async def _mount_turns(self, view: SessionView) -> None:
        for first in range(0, len(view.turns), BATCH):
            excluded = self.view.excluded if self.view else set()  # curation may have changed since `show`
            batch = [TurnView(t, view.main_arguments, t.start in excluded) for t in view.turns[first : first + BATCH]]
            await self.mount_all(batch)
            self.turns += batch
            if first == 0:
                self.cursor = next((i for i, t in enumerate(self.turns) if t.turn.start is not None), 0)
                self.turns[self.cursor].add_class("cursor")  # not scrolled to: the header stays in sight

    def update_curation(self, view: SessionView) -> None:
        """Reflect newly appended curation records without rebuilding the transcript."""
        self.view = view
        self.query_one("#header", Static).update(header_text(view))
        for turn in self.turns:
            turn.set_excluded(turn.turn.start in view.excluded)

    @property
    def current(self) -> TurnView | None:
        return self.turns[self.cursor] if 0 <= self.cursor < len(self.turns) else None

    def move(self, delta: int) -> None:
        self._mark_cursor(self.current, max(0, min(self.cursor + delta, len(self.turns) - 1)))

    def pick(self, turn: TurnView) -> None:
        self._mark_cursor(self.current, self.turns.index(turn))

    def _mark_cursor(self, previous: TurnView | None, cursor: int) -> None:
        if previous is not None:
            previous.remove_class("cursor")
        self.cursor = cursor
        if (current := self.current) is not None:
            current.add_class("cursor")
            self.scroll_to_widget(current, animate=False, top=True)
