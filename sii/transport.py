"""Bounds on every wait for a model server, and the retry policy, independent of the HTTP library.

A failed call never takes longer than this: until the first token, `first_token_timeout` in all (every attempt,
backoff and Retry-After wait included; at most MAX_ATTEMPTS attempts), plus at most one `connect_timeout` (a
connect under way at the deadline); once tokens flow, `idle_timeout` after the last one. Timeouts are not
retried (the deadline has passed), a cut stream is retried only while nothing of it was shown."""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

MAX_ATTEMPTS = 3
RETRY_DELAYS_S = (0.5, 1.5)  # backoff before the 2nd and 3rd attempts, when the server names no Retry-After
RETRY_AFTER_CAP_S = 60.0  # a server asking for a longer wait gets a clear error instead
RETRIED_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
# Phrases servers use when the prompt (plus max_tokens) exceeds the window: vLLM, OpenAI, llama.cpp, TGI.
OVERFLOW_WORDS = re.compile(r"context length|context window|maximum model length|too many tokens")
WINDOW_NUMBER = re.compile(r"(?:context length|maximum model length|context window)\D{0,12}(\d+)")
PROMPT_NUMBER = re.compile(
    r"(\d+) in the messages|has (\d+) input tokens|resulted in (\d+) tokens|prompt \((\d+) tokens\)|total length (\d+)"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

Bound = Literal["first_token_timeout", "idle_timeout"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds; `[server]` in config.toml or SII_<NAME> in the environment sets each."""

    connect_timeout: float = 10.0  # one TCP (and TLS) connect
    first_token_timeout: float = 300.0  # from the call's start to its first content, reasoning or tool-call delta
    idle_timeout: float = 120.0  # the longest gap between two deltas once the reply streams


def setting_hint(name: str) -> str:
    return f"{name}; set [server] {name} in config.toml or SII_{name.upper()} to change it"


def one_line(text: str) -> str:
    """A server's words as one printable line: no newlines, no terminal escapes, a bounded length."""
    return " ".join(CONTROL.sub(" ", text).split())[:500]


class ModelError(Exception):
    """The model server is unreachable or refused the request; str() is a one-line explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class RetryableError(ModelError):
    """A failure another attempt may not meet (overload, a crashed worker, a refused connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContextOverflow(ModelError):
    """The request does not fit the model's context window; `window` and `prompt_tokens` when the server said."""

    def __init__(self, message: str, window: int | None, prompt_tokens: int | None) -> None:
        super().__init__(message)
        self.window = window
        self.prompt_tokens = prompt_tokens


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(next(group for group in match.groups() if group)) if match else None


def context_overflow(message: str, code: Any) -> ContextOverflow | None:
    """The error as a ContextOverflow when it says the request is too long for the window, else None."""
    if code != "context_length_exceeded" and not OVERFLOW_WORDS.search(message.lower()):
        return None
    lower = message.lower()
    return ContextOverflow(
        f"the request is too long for the model's context window: {message}",
        _first_number(WINDOW_NUMBER, lower),
        _first_number(PROMPT_NUMBER, lower),
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def status_error(status: int, message: str, code: Any, retry_after: str | None) -> ModelError:
    """The error for an HTTP error status: a context overflow, a failure worth retrying, or a final refusal."""
    if status in (400, 413) and (overflow := context_overflow(message, code)):
        return overflow
    text = f"the model server answered {status}: {message}"
    if status in RETRIED_STATUSES or status >= 500:
        return RetryableError(text, retry_after_seconds(retry_after))
    return ModelError(text)


class CallBudget:
    """One logical call's attempts and its first-token deadline, which retries do not reset."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self.deadline = time.monotonic() + timeouts.first_token_timeout
        self.attempts = 1

    def wait_before_retry(self, error: RetryableError) -> None:
        """Sleep until the next attempt may start, or raise `error` (as a final ModelError) when none may."""
        if self.attempts >= MAX_ATTEMPTS:
            raise ModelError(f"{error} (gave up after {self.attempts} attempts)") from error
        wait = error.retry_after if error.retry_after is not None else RETRY_DELAYS_S[self.attempts - 1]
        if error.retry_after is not None and wait > RETRY_AFTER_CAP_S:
            cap = RETRY_AFTER_CAP_S
            raise ModelError(f"{error} (it asks to retry after {wait:.0f} s; sii waits at most {cap:.0f} s)") from error
        if time.monotonic() + wait >= self.deadline:
            limit = self.timeouts.first_token_timeout
            raise ModelError(
                f"{error} (no time left for a retry after {wait:g} s within {limit:g} s: "
                f"{setting_hint('first_token_timeout')})"
            ) from error
        time.sleep(wait)
        self.attempts += 1


def _shutdown(stream: Any) -> None:
    """End every read and write on the connection at once (a blocked recv returns)."""
    with contextlib.suppress(OSError, AttributeError):  # already closed
        stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Bounds one attempt in wall-clock time whatever the server sends (nothing, keep-alive comments, a byte at a
    time): a helper thread shuts the connection down when the deadline passes, so the blocked read returns, and
    `expired` names the bound that was hit. The connection is learnt from the HTTP library's trace of its
    connects (`trace`) or from the response (`watch`): an object with get_extra_info("socket")."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._bound: Bound = "first_token_timeout"
        self._streams: list[Any] = []
        self._stopped = False
        self._lock = threading.Condition()
        self.expired: Bound | None = None
        self._thread = threading.Thread(target=self._run, name="sii-model-watchdog", daemon=True)
        self._thread.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` extension: remember each new connection (TCP, then TLS over it)."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete", ".connect_unix_socket.complete")):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        if stream is None:
            return
        with self._lock:
            self._streams.append(stream)
            if self.expired:
                _shutdown(stream)

    @property
    def bound(self) -> Bound:
        """The bound now in force: the first token's, then the idle one's."""
        return self._bound

    def progress(self, idle_timeout: float) -> None:
        """A delta arrived: from now on the bound is the idle timeout after this moment."""
        with self._lock:
            deadline = time.monotonic() + idle_timeout
            if deadline < self._deadline:  # the thread sleeps until the old deadline: wake it to wait less
                self._lock.notify()
            self._deadline = deadline
            self._bound = "idle_timeout"

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join()

    def _run(self) -> None:
        with self._lock:
            while not self._stopped:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    self.expired = self._bound
                    for stream in self._streams:
                        _shutdown(stream)
                    return
                self._lock.wait(remaining)


def timeout_error(bound: Bound, timeouts: Timeouts, base_url: str) -> ModelError:
    """The one-line error for a deadline that passed, naming the setting that moves it."""
    if bound == "first_token_timeout":
        return ModelError(
            f"the model server at {base_url} sent no reply within {timeouts.first_token_timeout:g} s "
            f"({setting_hint(bound)})"
        )
    return ModelError(
        f"the model server at {base_url} stopped mid-reply: nothing new for {timeouts.idle_timeout:g} s "
        f"({setting_hint(bound)})"
    )
