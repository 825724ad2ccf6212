"""A real terminal for REPL tests: the program runs in a pty (pexpect) and its output is fed to a terminal
emulator (pyte), so tests read what a person would see (the screen and the lines scrolled off it), not bytes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pexpect
import pyte


class Terminal:
    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], rows: int = 45, columns: int = 160) -> None:
        self.screen = pyte.HistoryScreen(columns, rows, history=10_000, ratio=0.001)
        self.stream = pyte.ByteStream(self.screen)
        full_env = {**os.environ, "TERM": "xterm-256color", **env}
        for name in ("COLUMNS", "LINES", "PROMPT_TOOLKIT_NO_CPR"):
            full_env.pop(name, None)
        self.child = pexpect.spawn(argv[0], argv[1:], cwd=str(cwd), env=full_env, dimensions=(rows, columns))
        # Answer the program's questions as a terminal would (cursor position reports), so it draws as it
        # does for a person, bottom toolbar included.
        self.screen.write_process_input = lambda data: self.child.send(data.encode())

    def pump(self, seconds: float = 0.05) -> None:
        """Feed whatever the program wrote within `seconds` to the emulator."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=max(0.0, deadline - time.monotonic()))
            except pexpect.TIMEOUT:
                return
            except pexpect.EOF:
                return
            self.stream.feed(data)
            if time.monotonic() >= deadline:
                return

    def screen_lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def transcript(self) -> list[str]:
        """Every line a person could scroll back to, then the screen, trailing blanks trimmed."""
        columns = self.screen.columns
        history = ["".join(line[x].data for x in range(columns)).rstrip() for line in self.screen.history.top]
        lines = history + self.screen_lines()
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        """Pump until `text` is on the screen (or in scroll-back)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            if any(text in line for line in self.transcript()):
                return
            if not self.child.isalive():
                self.pump(0.2)
                if any(text in line for line in self.transcript()):
                    return
                break
        raise AssertionError(f"{text!r} never appeared on the screen:\n" + "\n".join(self.transcript()[-60:]))

    def settle(self, quiet: float = 0.5, timeout: float = 10.0) -> None:
        """Pump until the program has printed nothing for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = (self.transcript(), self.screen.cursor.x, self.screen.cursor.y)
            self.pump(quiet)
            if (self.transcript(), self.screen.cursor.x, self.screen.cursor.y) == before:
                return

    def send(self, text: str) -> None:
        self.child.send(text)

    def sendline(self, text: str) -> None:
        self.child.send(text + "\r")

    def close(self) -> None:
        self.child.close(force=True)
