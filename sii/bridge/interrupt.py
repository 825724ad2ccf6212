"""Stopping a running turn from another thread (an interrupt request, a timeout, the client leaving, SIGTERM)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# What the model reads in place of a call's result when the turn was stopped, by why it was stopped.
STOPPED_BY_INTERRUPT = "Interrupted by the client (an interrupt request) before this call finished."
STOPPED_BY_TIMEOUT = "Stopped before this call finished: the query ran past the client's time limit (timeout_ms={ms})."
STOPPED_BY_CLIENT_LEAVING = "Stopped before this call finished: the client closed the connection."
STOPPED_BY_TERMINATION = "Stopped before this call finished: the bridge was terminated."


class Interrupter:
    """Stops the running turn the way Ctrl-C does in the REPL: SIGINT to the main thread, which also wakes a
    blocking read of the model's reply. It raises only while a turn runs, and waits for an event line being
    written to be complete, so an interrupt never tears the output. The KeyboardInterrupt carries `note`, what the
    model is told about a call it cut short (a timeout is not the user's doing)."""

    def __init__(self) -> None:
        self.running = False
        self.stopped = False  # for good: the client has gone, so no turn may start either
        self.reason: str | None = None
        self.note = ""
        self._lock = threading.Lock()  # `running`, `stopped` and `reason` change together
        self._writing = False
        self._pending = False

    def handle(self, signum: int = signal.SIGINT, frame: object = None) -> None:
        if not self.running:
            return
        if self._writing:
            self._pending = True
            return
        raise KeyboardInterrupt(self.note)

    def request(self, reason: str, note: str) -> bool:
        """From any thread: stop the running turn. False when none runs. One signal per turn: a second one would
        land while the first is being handled, outside the agent's own handlers."""
        with self._lock:
            return self._request(reason, note)

    def _request(self, reason: str, note: str) -> bool:
        if not self.running or self.reason is not None:
            return self.running
        self.reason, self.note = reason, note
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        return True

    def stop(self, reason: str, note: str) -> None:
        """From any thread: stop the running turn and every later one."""
        with self._lock:
            self.stopped = True
            self._request(reason, note)

    def input_ended(self, note: str) -> None:
        """The client will send nothing more. If a turn runs, it left mid-query: stop that turn and every later
        one. Else the requests it sent before are still served (a client may close stdin right after asking)."""
        with self._lock:
            if self.running:
                self.stopped = True
                self._request("the client closed stdin", note)

    def run(self, turn: Callable[[], object]) -> bool:
        """Run `turn` interruptibly; an interrupt landing just after it returned is absorbed. False: not started,
        because the bridge was stopped."""
        with self._lock:
            self.reason = None
            if self.stopped:
                return False
            self.running = True
        try:
            turn()
        except KeyboardInterrupt:
            pass
        finally:
            self.running = False
            self._pending = False
        return True

    @contextmanager
    def shield(self) -> Iterator[None]:
        """Around a write: on the main thread, where interrupts land, one that comes meanwhile waits for the end
        of the write and is then raised inside the turn as if it had just arrived."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending and self.running:
            self._pending = False
            raise KeyboardInterrupt(self.note)
