"""Esc stops a running turn, as Ctrl-C does. While a turn runs nobody else reads the terminal, so a watcher thread
does: the terminal goes to cbreak mode (no echo, byte by byte, Ctrl-C still a signal), a lone ESC sends SIGINT to
the main thread (the agent turns it into an "interrupted" turn end), and every other byte typed meanwhile is kept
and handed to the next prompt as prompt_toolkit type-ahead, so nothing typed is lost, nor echoed over the output,
nor taken as the answer to an approval question asked later in the turn."""

from __future__ import annotations

import os
import select
import signal
import sys
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prompt_toolkit.input import Input
from prompt_toolkit.input.typeahead import store_typeahead
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyPress

ESC = 0x1B
SEQUENCE_WAIT = 0.05  # an arrow or function key sends ESC and the rest of its sequence at once


class EscWatcher:
    """`watching()` around a turn; `paused()` around anything that reads the terminal during it (an approval
    question); `hand_over(input)` gives what was typed meanwhile to the next prompt. Does nothing off a terminal.
    Used from the main thread (the one SIGINT interrupts)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.enabled = os.isatty(fd)
        self._typed = bytearray()
        self._thread: threading.Thread | None = None
        self._wake = -1
        self._saved: list = []
        self._interrupted = False

    @classmethod
    def on_stdin(cls) -> EscWatcher:
        return cls(sys.stdin.fileno())

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Watch for Esc while the body runs; the terminal mode is put back however the body ends."""
        self._interrupted = False  # one interrupt per turn: a second SIGINT could land after the turn ended
        try:
            self._start()
            yield
        finally:
            self._stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Give the terminal back (its mode too) while the body reads it; watch again afterwards."""
        running = self._thread is not None
        if running:
            self._stop()
        try:
            yield
        finally:
            if running:
                self._start()

    def hand_over(self, prompt_input: Input) -> None:
        """What was typed during the turn (Esc aside) becomes the next prompt's first keys."""
        keys: list[KeyPress] = []
        parser = Vt100Parser(keys.append)
        parser.feed_and_flush(self._typed.decode("utf-8", errors="replace"))
        self._typed.clear()
        if keys:
            store_typeahead(prompt_input, keys)

    def _start(self) -> None:
        if not self.enabled:
            return
        with _interrupts_deferred():
            self._begin()

    def _begin(self) -> None:
        wake_read, self._wake = os.pipe()
        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[0] &= ~termios.ICRNL  # Enter arrives as the CR the prompt expects
        mode[3] &= ~(termios.ECHO | termios.ICANON)  # ISIG stays: Ctrl-C is still a signal
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)  # TCSANOW: TCSAFLUSH would drop type-ahead
        self._thread = threading.Thread(target=self._watch, args=(wake_read,), name="esc-watcher", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with _interrupts_deferred():
            os.write(self._wake, b"\0")
            thread.join()
            os.close(self._wake)
            termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)

    def _watch(self, wake: int) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.fd, wake], [], [])
                if wake in ready:
                    return
                data = os.read(self.fd, 1024)
                if not data:
                    return
                self._take(data)
        except OSError:
            return  # the terminal went away: nothing left to watch
        finally:
            os.close(wake)

    def _take(self, data: bytes) -> None:
        """Keep every byte but a lone ESC (one not followed at once by more of a key's sequence)."""
        index = 0
        while index < len(data):
            byte = data[index]
            if byte == ESC and index + 1 == len(data) and select.select([self.fd], [], [], SEQUENCE_WAIT)[0]:
                data += os.read(self.fd, 1024)
            if byte == ESC and (index + 1 == len(data) or data[index + 1] == ESC):
                self._interrupt()
            else:
                self._typed.append(byte)
            index += 1

    def _interrupt(self) -> None:
        """SIGINT to the main thread itself, so the call it is blocked in (a socket read, a wait) is cut short."""
        if not self._interrupted:
            self._interrupted = True
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (or the watcher's own signal) while the terminal's mode changes waits until the change is whole:
    a KeyboardInterrupt halfway would leave the terminal without echo after sii exits."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
