"""The REPL's sign of life: a spinner with what sii is waiting for, how long it has waited, and how much the model
has written so far. Transient (erased when the wait ends), so it never leaves a line behind."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text


class _Waiting:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        progress = self.progress
        elapsed = time.monotonic() - progress.since
        detail = f" · {progress.detail}" if progress.detail else ""
        self.spinner.text = Text(f"{progress.what} · {elapsed:.0f}s{detail}  (Ctrl-C stops)", "dim")
        yield self.spinner
        for line in progress.live() if progress.live else []:  # what a running command prints, as it prints
            yield Text("  │ " + line[: max(1, options.max_width - 4)], "dim", no_wrap=True, overflow="crop")


class Progress:
    """`wait(what)` shows the spinner (or changes its text), `stop()` erases it. One per console: a rich console
    holds one live display at a time, so whatever else draws live (the Markdown stream) stops it first."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.what = ""
        self.detail = ""
        self.since = time.monotonic()
        self.live: Callable[[], list[str]] | None = None  # the last lines of output of what is running
        self._live: Live | None = None

    @property
    def active(self) -> bool:
        return self._live is not None

    def wait(self, what: str, detail: str = "", live: Callable[[], list[str]] | None = None) -> None:
        if what != self.what or self._live is None:
            self.since = time.monotonic()
        self.what, self.detail, self.live = what, detail, live
        if self._live is None and self.console.is_terminal:
            self._live = Live(_Waiting(self), console=self.console, transient=True, refresh_per_second=8)
            self._live.start()

    def note(self, detail: str) -> None:
        """Change the detail (e.g. characters written so far) without restarting the clock."""
        self.detail = detail

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self.what = self.detail = ""
        self.live = None
