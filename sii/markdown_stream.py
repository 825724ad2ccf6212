"""Assistant text rendered as Markdown while it streams. Finished blocks (paragraphs, lists, closed code
fences) are printed once; only the block being written is redrawn, so the live region stays small."""

from __future__ import annotations

import time

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment

REDRAW_INTERVAL_S = 0.08


def split_finished(text: str) -> tuple[str, str]:
    """(finished blocks, block in progress): split at the last blank line that is not inside a code fence."""
    in_fence = False
    cut = 0
    offset = 0
    for line in text.splitlines(keepends=True):
        offset += len(line)
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not line.strip() and not in_fence and line.endswith("\n"):
            cut = offset
    return text[:cut], text[cut:]


class _Tail:
    """The last lines of a renderable that fit on the screen. A live region taller than the screen cannot be
    erased (its top has scrolled away), so it would be left behind and the finished block printed under it."""

    def __init__(self, renderable: Markdown, reserve: int = 3) -> None:
        self.renderable = renderable
        self.reserve = reserve

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options, pad=False)
        height = max(1, console.size.height - self.reserve)
        for line in lines[-height:]:
            yield from line
            yield Segment.line()


class MarkdownStream:
    """Finished blocks are printed once, for good. The block being written is drawn in a transient live region
    (erased, not left behind, when the block is done), so no partial or repeated line stays on screen."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._pending = ""
        self._live: Live | None = None
        self._drawn_at = 0.0

    def feed(self, text: str) -> None:
        self._pending += text
        finished, self._pending = split_finished(self._pending)
        if finished:
            self._stop_live()
            self.console.print(Markdown(finished))
        now = time.monotonic()
        if self._pending.strip() and now - self._drawn_at >= REDRAW_INTERVAL_S:
            if self._live is None:
                self._live = Live(console=self.console, auto_refresh=False, transient=True)
                self._live.start()
            self._live.update(_Tail(Markdown(self._pending)), refresh=True)
            self._drawn_at = now

    def finish(self) -> None:
        """Print what is left (the reply ended, or was interrupted)."""
        self._stop_live()
        if self._pending.strip():
            self.console.print(Markdown(self._pending))
        self._pending = ""

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
