"""`sii recordings view`: a full-screen viewer for curating recordings. Every curation (label, note, tags,
excluded turns) is appended to the session's file as a record, like any event, so the file stays the one truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label

from recordings.store import RecordingWriter, SessionSummary, list_sessions
from recordings.viewer_widgets import SessionView, Transcript, TurnView, load_session

LABEL_FILTERS = (None, "success", "fail", "unknown", "unlabelled")


def parse_tags(text: str) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in text.split(",") if tag.strip()))


class AskScreen(ModalScreen[str | None]):
    """A one-line question (a note, the tags): Enter answers, Escape cancels."""

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical { width: 80; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Input(value=self.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Viewer(App[None]):
    """Sessions on the left, the highlighted one's transcript on the right; keys label and curate it."""

    TITLE = "sii recordings"
    CSS = """
    #left { width: 45%; border: round $panel; }
    #filter { border: none; height: 1; padding: 0 1; }
    #sessions { height: 1fr; }
    #transcript { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "label('success')", "success"),
        Binding("f", "label('fail')", "fail"),
        Binding("u", "label('unknown')", "unknown"),
        Binding("n", "note", "note"),
        Binding("t", "tags", "tags"),
        Binding("x", "exclude", "exclude turn"),
        Binding("j", "turn(1)", "next turn"),
        Binding("k", "turn(-1)", "prev turn"),
        Binding("slash", "filter", "filter"),
        Binding("l", "label_filter", "by label"),
        Binding("q", "quit", "quit"),
        Binding("escape", "focus_list", show=False),
    ]

    def __init__(self, directory: Path, open_path: Path | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.open_path = open_path
        self.sessions: list[tuple[SessionSummary, list[str]]] = []
        self.label_filter: str | None = None
        self.view: SessionView | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="left"):
                yield Input(placeholder="/ to filter: id, model, prompt, tags", id="filter")
                yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield Transcript(id="transcript")
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        table.add_columns("id", "started", "model", "msgs", "outcome", "first prompt", "tags")
        self.sessions = [(s, s.tags) for s in list_sessions(self.directory)]
        await self._fill_table(self.open_path)
        table.focus()

    def _shown(self) -> list[tuple[SessionSummary, list[str]]]:
        needle = self.query_one("#filter", Input).value.lower()
        shown = []
        for summary, tags in self.sessions:
            label = summary.outcome or "unlabelled"
            haystack = " ".join([summary.session_id, summary.model, label, summary.first_prompt, *tags]).lower()
            if needle in haystack and self.label_filter in (None, label):
                shown.append((summary, tags))
        return shown

    async def _fill_table(self, keep: Path | None) -> None:
        """Redraw the rows, keeping the cursor on `keep` when it is still shown; otherwise the transcript
        follows the cursor, so curation keys always act on the highlighted session."""
        table = self.query_one("#sessions", DataTable)
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for summary, tags in self._shown():
                started = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.started_at))
                prompt = " ".join(summary.first_prompt.split())[:60]
                cells = (summary.session_id, started, summary.model, str(summary.messages), summary.outcome or "-")
                table.add_row(*cells, prompt, ", ".join(tags), key=str(summary.path))
            if keep is not None and str(keep) in table.rows:
                table.move_cursor(row=table.get_row_index(str(keep)))
        self.query_one("#left").border_title = f"sessions ({table.row_count}, {self.label_filter or 'all'})"
        row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key if table.row_count else None
        await self._open(Path(str(row.value)) if row else None)

    async def _open(self, path: Path | None) -> None:
        if (self.view.path if self.view else None) != path:
            self.view = load_session(path) if path else None
            await self.query_one(Transcript).show(self.view)

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        await self._open(Path(str(event.row_key.value)))

    @on(Input.Changed, "#filter")
    async def _filter_changed(self) -> None:
        await self._fill_table(self.view.path if self.view else None)

    @on(Input.Submitted, "#filter")
    def action_focus_list(self) -> None:
        self.query_one("#sessions", DataTable).focus()

    def on_turn_view_picked(self, event: TurnView.Picked) -> None:
        self.query_one(Transcript).pick(event.turn)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    async def action_label_filter(self) -> None:
        self.label_filter = LABEL_FILTERS[(LABEL_FILTERS.index(self.label_filter) + 1) % len(LABEL_FILTERS)]
        await self._fill_table(self.view.path if self.view else None)

    def action_turn(self, delta: int) -> None:
        self.query_one(Transcript).move(delta)

    async def action_label(self, outcome: str) -> None:
        await self._curate(lambda writer: writer.label(outcome))

    def action_note(self) -> None:
        if self.view is not None:
            self.push_screen(AskScreen("note:"), self._note_answered)

    async def _note_answered(self, note: str | None) -> None:
        if note and note.strip():
            await self._curate(lambda writer: writer.label(note=note.strip()))

    def action_tags(self) -> None:
        if self.view is not None:
            self.push_screen(AskScreen("tags (comma-separated):", ", ".join(self.view.tags)), self._tags_answered)

    async def _tags_answered(self, text: str | None) -> None:
        if text is not None:
            await self._curate(lambda writer: writer.tags(tags=parse_tags(text)))

    async def action_exclude(self) -> None:
        turn = self.query_one(Transcript).current
        if self.view is None or turn is None or turn.turn.start is None:
            self.notify("no turn under the cursor (a turn starts at a user message)", severity="warning")
            return
        start = turn.turn.start
        excluded = start not in self.view.excluded
        await self._curate(lambda writer: writer.exclude(message_index=start, excluded=excluded))

    async def _curate(self, append: Callable[[RecordingWriter], None]) -> None:
        """Append a curation record to the open session, then show the session as the file now says."""
        if self.view is None:
            return
        writer = RecordingWriter(self.view.path)
        append(writer)
        writer.close()
        if writer.last_error is not None:
            self.notify(f"could not write {self.view.path}: {writer.last_error}", severity="error")
        self.view = load_session(self.view.path)
        self.query_one(Transcript).update_curation(self.view)
        path, outcome = self.view.path, self.view.meta.outcome
        self.sessions = [
            (replace(s, outcome=outcome), self.view.tags) if s.path == path else (s, t) for s, t in self.sessions
        ]
        await self._fill_table(path)
