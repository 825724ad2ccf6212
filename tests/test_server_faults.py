"""A dying, silent or overloaded model server never hangs sii or loses the turn: real loopback HTTP servers
that misbehave on cue (tests/scripted_server.py, plus raw sockets for what HTTP servers cannot do), with the
timeouts at fractions of a second."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from recordings.store import read_trajectory
from sii.client import ModelClient, ModelError, Timeouts
from sii.config import ConfigError, Settings, user_config_file
from sii.events import Event, ToolCallStarted
from sii.session import Session
from sii.transport import retry_after_seconds
from tests.scripted_server import Reply, ScriptedServer, _chunks, call

FAST = Timeouts(connect_timeout=1.0, first_token_timeout=0.4, idle_timeout=0.3)
SLACK_S = 2.5  # a loaded two-core machine: bounds are checked against the timeout plus this
KEEPALIVE = ": keep-alive"
EMPTY_DELTA = 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": null}]}'
EMPTY_TOOL_FRAGMENT = 'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}}]}'
BIG = ("x" * 59 + "\n") * 100  # ~1,700 tokens per read


def ask(client: ModelClient, shown: list[str] | None = None) -> str:
    """One chat call; returns the reply text."""
    sink = shown.append if shown is not None else (lambda piece: None)
    completion = client.chat([{"role": "user", "content": "hi"}], [], {}, on_text=sink)
    return completion.message["content"] or ""


def timed(action: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = action()
    except ModelError as exc:
        result = exc
    return result, time.monotonic() - started


@pytest.fixture
def client_for() -> Iterator[Callable[..., ModelClient]]:
    clients: list[ModelClient] = []

    def make(base_url: str, timeouts: Timeouts = FAST, model: str | None = None) -> ModelClient:
        clients.append(ModelClient(base_url, model=model, timeouts=timeouts))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


class RawServer:
    """A TCP listener that does what no HTTP server library will: never accept, or trickle bytes forever."""

    def __init__(self, serve: Callable[[socket.socket, threading.Event], None] | None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self._serve = serve
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def __enter__(self) -> RawServer:
        if self._serve is not None:  # None: listen only; the kernel completes connects, nobody reads them
            self._threads.append(threading.Thread(target=self._accept, daemon=True))
            self._threads[0].start()
        return self

    def _accept(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(connection,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            assert self._serve is not None
            with contextlib.suppress(OSError):  # the client hung up
                self._serve(connection, self.stop)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.listener.close()


def trickle(connection: socket.socket, stop: threading.Event) -> None:
    """Headers, then one byte of a never-ending line every 50 ms: each read succeeds, no line ever ends."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    while not stop.wait(0.05):
        connection.sendall(b"d")


# --- timeouts: every silence is bounded, keep-alives and empty deltas are no progress ------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(silent=True),  # accepts, reads the request, never answers
        Reply(pause_after=0),  # headers, then silence
        Reply(pause_after=0, filler=KEEPALIVE),  # headers, then SSE keep-alive comments forever
        Reply(pause_after=1, filler=EMPTY_DELTA),  # the role chunk, then empty deltas forever
        Reply(pause_after=1, filler=EMPTY_TOOL_FRAGMENT),  # empty tool-call fragments forever
        Reply("late", pause_after=1, pause=2.0, filler=KEEPALIVE),  # a first token, but too late
    ],
    ids=["silent", "headers-then-silence", "keepalive-forever", "empty-deltas", "empty-tool-fragments", "slow"],
)
def test_no_first_token_in_time_is_one_clear_error(reply: Reply, client_for: Callable[..., ModelClient]) -> None:
    with ScriptedServer([reply]) as server:
        client = client_for(server.base_url)
        client.list_models()
        error, elapsed = timed(lambda: ask(client))
    assert isinstance(error, ModelError)
    assert str(error) == (
        f"the model server at {server.base_url} sent no reply within 0.4 s (first_token_timeout; "
        "set [server] first_token_timeout in config.toml or SII_FIRST_TOKEN_TIMEOUT to change it)"
    )
    assert 0.4 <= elapsed < 0.4 + SLACK_S
    assert len(server.requests) == 1  # a passed deadline is not retried


def endless_line(connection: socket.socket, stop: threading.Event) -> None:
    """Headers, then one `data:` line that never ends, as fast as the client reads it."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ")
    while not stop.is_set():
        connection.sendall(b"x" * 65536)


def test_a_line_that_never_ends_cannot_fill_memory(client_for: Callable[..., ModelClient]) -> None:
    with RawServer(endless_line) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=60), model="any")
        error, elapsed = timed(lambda: ask(client))
    assert str(error) == "the server sent a stream line longer than 16 MiB" and elapsed < 30


@pytest.mark.parametrize("serve", [None, trickle], ids=["never-accepts", "byte-trickle"])
def test_raw_sockets_that_never_finish_a_line_are_bounded(serve, client_for: Callable[..., ModelClient]) -> None:
    with RawServer(serve) as server:
        client = client_for(server.base_url, model="any")
        error, elapsed = timed(lambda: ask(client))
    assert isinstance(error, ModelError) and "sent no reply within 0.4 s (first_token_timeout" in str(error)
    assert elapsed < 0.4 + SLACK_S


def test_a_slow_but_living_server_is_waited_for(client_for: Callable[..., ModelClient]) -> None:
    """No false alarms: keep-alives before a first token inside the bound, then steady deltas whose sum is far
    longer than the idle bound, each gap shorter."""
    slow = Reply("abcdefghijklmnop", chunk=2, delay=0.1, pause_after=1, pause=0.3, filler=KEEPALIVE)
    with ScriptedServer([slow]) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=1.5, idle_timeout=0.6))
        reply, elapsed = timed(lambda: ask(client))
    assert reply == "abcdefghijklmnop" and elapsed > 0.6


@pytest.mark.parametrize("filler", [None, KEEPALIVE, EMPTY_DELTA], ids=["silence", "keepalive", "empty-deltas"])
def test_a_stall_mid_stream_hits_the_idle_bound(filler: str | None, client_for: Callable[..., ModelClient]) -> None:
    stalled = Reply("hello world, more to come", pause_after=3, filler=filler)
    shown: list[str] = []
    with ScriptedServer([stalled]) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=5, idle_timeout=0.3))
        error, elapsed = timed(lambda: ask(client, shown))
    assert isinstance(error, ModelError)
    assert str(error) == (
        f"the model server at {server.base_url} stopped mid-reply: nothing new for 0.3 s (idle_timeout; "
        "set [server] idle_timeout in config.toml or SII_IDLE_TIMEOUT to change it)"
    )
    assert shown == ["hell", "o wo"] and elapsed < 0.3 + SLACK_S and len(server.requests) == 1


def test_connect_timeout_bounds_each_attempt(client_for: Callable[..., ModelClient]) -> None:
    """A listener whose backlog is full never completes a connect: each attempt ends at connect_timeout."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    try:
        address = listener.getsockname()
        for _ in range(8):  # fill the backlog (nobody accepts)
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
        client = client_for(f"http://127.0.0.1:{address[1]}/v1", Timeouts(connect_timeout=0.2, first_token_timeout=30))
        error, elapsed = timed(client.list_models)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert isinstance(error, ModelError)
    if "connect_timeout" not in str(error):
        pytest.skip(f"this kernel completed the connect despite the full backlog: {error}")
    assert "no connection within 0.2 s (connect_timeout; set [server] connect_timeout" in str(error)
    assert "gave up after 3 attempts" in str(error) and elapsed < 3 * 0.2 + 2.0 + SLACK_S


# --- retries: overload is waited out as the server asks, other refusals are final ---------------------------


def overloaded(status: int, retry_after: str | None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(status=status, headers=headers, error={"message": "server busy", "type": "ServiceUnavailable"})


@pytest.mark.parametrize(
    ("status", "retry_after", "least_wait"),
    [
        (429, "1", 1.0),
        (429, "in 2 s", 0.9),  # an HTTP date two seconds ahead, made when the test runs (a 1 s resolution)
        (503, "1", 1.0),
        (503, None, 0.5),  # no Retry-After: the backoff
        (429, "0", 0.0),
        (408, None, 0.5),
        (409, None, 0.5),
        (502, None, 0.5),
    ],
    ids=["429-seconds", "429-date", "503-seconds", "503-backoff", "429-zero", "408", "409", "502"],
)
def test_retried_statuses_wait_then_succeed(
    status: int, retry_after: str | None, least_wait: float, client_for: Callable[..., ModelClient]
) -> None:
    if retry_after == "in 2 s":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    with ScriptedServer([overloaded(status, retry_after), Reply("ok")]) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=10))
        client.list_models()
        reply, elapsed = timed(lambda: ask(client))
    assert reply == "ok" and len(server.requests) == 2
    assert least_wait <= elapsed < least_wait + SLACK_S


def test_500_is_retried_a_bounded_number_of_times(client_for: Callable[..., ModelClient]) -> None:
    failing = Reply(status=500, error={"message": "engine crashed\n\x1b[31mTraceback..."})
    with ScriptedServer([failing] * 10) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=30))
        client.list_models()
        error, elapsed = timed(lambda: ask(client))
    assert str(error) == "the model server answered 500: engine crashed [31mTraceback... (gave up after 3 attempts)"
    assert len(server.requests) == 3 and 2.0 <= elapsed < 2.0 + SLACK_S


@pytest.mark.parametrize(
    ("retry_after", "first_token", "expected"),
    [
        ("3600", 300, "(it asks to retry after 3600 s; sii waits at most 60 s)"),
        ("Fri, 31 Dec 2100 23:59:59 GMT", 300, "sii waits at most 60 s)"),
        ("5", 1, "(no time left for a retry after 5 s within 1 s: first_token_timeout; set [server]"),
    ],
    ids=["too-long", "date-far-ahead", "past-the-deadline"],
)
def test_a_wait_longer_than_sii_allows_fails_at_once(
    retry_after: str, first_token: float, expected: str, client_for: Callable[..., ModelClient]
) -> None:
    with ScriptedServer([overloaded(429, retry_after)]) as server:
        client = client_for(server.base_url, Timeouts(first_token_timeout=first_token))
        client.list_models()
        error, elapsed = timed(lambda: ask(client))
    assert isinstance(error, ModelError) and str(error).startswith("the model server answered 429: server busy")
    assert expected in str(error) and elapsed < SLACK_S and len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_not_retried(status: int, client_for: Callable[..., ModelClient]) -> None:
    with ScriptedServer([Reply(status=status, error={"message": "no such model"}), Reply("never")]) as server:
        client = client_for(server.base_url)
        client.list_models()
        error, _ = timed(lambda: ask(client))
    assert str(error) == f"the model server answered {status}: no such model" and len(server.requests) == 1


def test_retry_after_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0  # in the past: now
    assert retry_after_seconds("-5", now) == 0.0
    for unreadable in (None, "", "soon", "nan", "inf", "1e999", "Thu, 99 Foo 2026"):
        assert retry_after_seconds(unreadable, now) is None


# --- streams: a cut or an error is never a finished reply, and its tool calls never run ---------------------


def cut_in_second_call(content: str) -> Reply:
    """Two calls: a complete write_file, then a run_shell whose arguments the hang-up cuts short."""
    reply = Reply(
        content,
        [call("write_file", {"path": "evil.txt", "content": "pwned"}), call("run_shell", {"command": "touch x"})],
    )
    reply.cut_after = len(list(_chunks(reply, {}))) - 4  # inside the second call's arguments
    return reply


def start(server: ScriptedServer, workspace: Path, monkeypatch: pytest.MonkeyPatch, **timeouts: str) -> Session:
    for name, value in timeouts.items():
        monkeypatch.setenv(f"SII_{name.upper()}", value)
    settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
    return Session(settings, face="test", ask=None, notify=lambda text: None)


def test_a_cut_stream_after_text_ends_the_turn_and_runs_nothing(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for reply in (
        cut_in_second_call("Writing it now."),
        Reply("Writing.", [call("write_file", {"path": "evil.txt", "content": "x"})], cut_after=4),
    ):
        with ScriptedServer([reply]) as server:
            session = start(server, workspace, monkeypatch)
            events: list[Event] = []
            session.agent.subscribe(events.append)
            end = session.agent.run_turn("write evil.txt")
            session.close()
        assert end.reason == "error" and not (workspace / "evil.txt").exists() and not (workspace / "x").exists()
        assert not any(isinstance(event, ToolCallStarted) for event in events) and len(server.requests) == 1
        errors = [e for e in read_trajectory(session.recording_path).events if e["type"] == "error"]
        assert "ended without a finish_reason or [DONE]: the partial reply was dropped" in errors[0]["message"]
        assert session.agent.messages[-1] == {"role": "user", "content": "write evil.txt"}


def test_a_cut_stream_before_anything_was_shown_is_retried(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer([cut_in_second_call(""), Reply("I will not write it.")]) as server:
        session = start(server, workspace, monkeypatch)
        end = session.agent.run_turn("write evil.txt")
        session.close()
    assert end.reason == "done" and session.agent.messages[-1]["content"] == "I will not write it."
    assert not (workspace / "evil.txt").exists() and len(server.requests) == 2


def test_a_stream_cut_without_done_but_finished_is_a_reply(client_for: Callable[..., ModelClient]) -> None:
    """The finish_reason came: a server that omits [DONE] still finished its reply."""
    reply = Reply("complete")
    reply.cut_after = len(list(_chunks(reply, {})))  # every chunk, then no [DONE]
    with ScriptedServer([reply]) as server:
        assert ask(client_for(server.base_url)) == "complete"


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ({"error": {"message": "engine died", "type": "InternalServerError", "code": 500}}, "engine died"),
        ({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}], "error": "boom"}, "boom"),
    ],
    ids=["error-object", "error-field"],
)
def test_an_error_inside_a_200_stream_is_an_error(
    chunk: dict, expected: str, client_for: Callable[..., ModelClient]
) -> None:
    with ScriptedServer([Reply("unused", stream_error=chunk), Reply("never")]) as server:
        client = client_for(server.base_url)
        client.list_models()
        error, _ = timed(lambda: ask(client))
    assert str(error) == f"the model server reported an error mid-stream: {expected}" and len(server.requests) == 1


# --- context overflow: compaction (trimming when it overflows itself) and one retry, never a loop -----------


def read_big_turns(count: int) -> list[Reply]:
    return [Reply("", [call("read_file", {"path": "big.txt"})]) for _ in range(count)]


def fits(server: ScriptedServer, body: dict) -> bool:
    return server.window_refusal(body) is None


@pytest.mark.parametrize(
    ("shape", "advertise", "chars_per_token", "window", "copies", "reads"),
    [
        ("vllm", False, 4.0, 9000, 1, 4),  # a proxy that lists no max_model_len: the refusal's numbers teach it
        ("vllm", True, 2.0, 16000, 4, 1),  # a tokenizer denser than the estimate: one big read overflows
        ("openai", False, 4.0, 9000, 1, 4),  # no window listed, no numbers in the refusal, only its code
    ],
    ids=["vllm-unadvertised", "vllm-denser-tokenizer", "openai-no-numbers"],
)
def test_a_context_length_refusal_compacts_and_succeeds(
    shape: str,
    advertise: bool,
    chars_per_token: float,
    window: int,
    copies: int,
    reads: int,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (workspace / "big.txt").write_text(BIG * copies)
    script = [*read_big_turns(reads), Reply("Summary: big.txt holds only x."), Reply("All x.")]
    with ScriptedServer(
        script, window, window_errors=shape, advertise_window=advertise, chars_per_token=chars_per_token
    ) as server:
        session = start(server, workspace, monkeypatch)
        session.agent.sampling["max_tokens"] = 500
        end = session.agent.run_turn("what is in big.txt?")
        session.close()
    assert end.reason == "done" and session.agent.messages[-1]["content"] == "All x."
    refused = [body for body in server.requests if not fits(server, body)]
    assert 1 <= len(refused) <= 2  # the turn's request, and perhaps the first summary request
    last = server.requests[-1]
    assert [m["role"] for m in last["messages"]] == ["system", "user"] and "holds only x" in last["messages"][1][
        "content"
    ]


def test_max_tokens_too_large_is_resized_without_compaction(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer([Reply("fine")], 6000, window_errors="vllm", advertise_window=False) as server:
        session = start(server, workspace, monkeypatch)
        end = session.agent.run_turn("hi")  # max_tokens 4,096 + ~2,400 prompt tokens > 6,000
        session.close()
    assert end.reason == "done" and len(server.requests) == 2 and fits(server, server.requests[1])
    assert server.requests[1]["max_tokens"] < 4096 and server.requests[1]["messages"][-1]["content"] == "hi"


def test_a_4096_window_with_default_max_tokens_completes(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = [
        Reply("", [call("read_file", {"path": "calc.py"})]),
        Reply("", [call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})]),
        Reply("Fixed."),
    ]
    with ScriptedServer(script, 4096, window_errors="vllm") as server:
        session = start(server, workspace, monkeypatch)
        assert session.agent.sampling["max_tokens"] == 4096
        end = session.agent.run_turn("fix add")
        session.close()
    assert end.reason == "done" and "a + b" in (workspace / "calc.py").read_text()
    assert len(server.requests) == 3 and all(fits(server, body) for body in server.requests)
    assert not any("Summarise this conversation" in json.dumps(body) for body in server.requests)


def test_a_request_larger_than_the_window_fails_clearly_without_looping(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedServer([], 4096, window_errors="vllm") as server:
        session = start(server, workspace, monkeypatch)
        end = session.agent.run_turn("y" * 40_000)
        session.close()
    assert end.reason == "error" and len(server.requests) == 1  # at the floor already: a retry would be the same
    assert server.requests[0]["max_tokens"] == 512
    (error,) = [e for e in read_trajectory(session.recording_path).events if e["type"] == "error"]
    assert error["message"].startswith("the request is too long for the model's context window: This model's")


# --- end to end through `sii -p`: exit codes and one line on stderr ----------------------------------------


def sii(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sii", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_headless_first_token_timeout(workspace: Path) -> None:
    with ScriptedServer([Reply(pause_after=0, filler=KEEPALIVE)]) as server:
        started = time.monotonic()
        result = sii("-p", "hi", "--base-url", server.base_url, cwd=workspace, SII_FIRST_TOKEN_TIMEOUT="1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: the model server at {server.base_url} sent no reply within 1 s (first_token_timeout; "
        "set [server] first_token_timeout in config.toml or SII_FIRST_TOKEN_TIMEOUT to change it)\n"
    )
    assert time.monotonic() - started < 20


def test_headless_idle_timeout_from_the_config_file(workspace: Path, sii_home: Path) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text("[server]\nidle_timeout = 0.5\n")
    with ScriptedServer([Reply("partial answer", pause_after=3)]) as server:
        result = sii("-p", "hi", "--base-url", server.base_url, cwd=workspace)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: the model server at {server.base_url} stopped mid-reply: nothing new for 0.5 s (idle_timeout; "
        "set [server] idle_timeout in config.toml or SII_IDLE_TIMEOUT to change it)"
    ]


def test_headless_429_is_waited_out_or_reported(workspace: Path) -> None:
    with ScriptedServer([overloaded(429, "1"), Reply("Done after the wait.")]) as server:
        started = time.monotonic()
        result = sii("-p", "hi", "--base-url", server.base_url, cwd=workspace)
        assert result.returncode == 0 and result.stdout == "Done after the wait.\n" and result.stderr == ""
        assert time.monotonic() - started >= 1.0 and len(server.requests) == 2

        server.script = [overloaded(429, "3600")]
        result = sii("-p", "hi", "--base-url", server.base_url, cwd=workspace)
    assert result.returncode == 1
    assert result.stderr == (
        "error: the model server answered 429: server busy (it asks to retry after 3600 s; sii waits at most 60 s)\n"
    )


def test_headless_startup_against_a_listener_that_never_answers(workspace: Path) -> None:
    with RawServer(None) as server:
        base_url = server.base_url
        result = sii("-p", "hi", "--base-url", base_url, cwd=workspace, SII_FIRST_TOKEN_TIMEOUT="1")
    assert result.returncode == 1  # a server that does not answer at start is a model server error
    assert result.stderr.splitlines() == [
        f"sii: error: the model server at {base_url} sent no reply within 1 s (first_token_timeout; "
        "set [server] first_token_timeout in config.toml or SII_FIRST_TOKEN_TIMEOUT to change it)"
    ]


@pytest.mark.parametrize(("shape", "advertise"), [("vllm", True), ("openai", False)], ids=["vllm", "openai"])
def test_continue_of_an_oversized_recorded_session(shape: str, advertise: bool, workspace: Path) -> None:
    """A session recorded against a large window, continued against a 6,000-token one: the summary request
    itself would overflow, so its oldest middle is left out; then the turn goes on."""
    (workspace / "big.txt").write_text(BIG)
    with ScriptedServer([*read_big_turns(5), Reply("Read it five times.")], 100_000) as large:
        assert sii("-p", "what is in big.txt?", "--base-url", large.base_url, cwd=workspace).returncode == 0
    script = [Reply("Summary: big.txt was read five times; it holds only x."), Reply("Nothing else to do.")]
    with ScriptedServer(script, 6000, window_errors=shape, advertise_window=advertise) as small:
        result = sii("-p", "anything left?", "--continue", "--base-url", small.base_url, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Nothing else to do.\n"
    summaries = [b for b in small.requests if "Summarise this conversation" in json.dumps(b)]
    assert len(summaries) <= 2 and fits(small, summaries[-1])
    assert "left out to fit the context window" in summaries[-1]["messages"][-1]["content"]
    assert "what is in big.txt?" in summaries[-1]["messages"][-1]["content"]  # the start is kept
    assert fits(small, small.requests[-1]) and "anything left?" in small.requests[-1]["messages"][1]["content"]


# --- settings ---------------------------------------------------------------------------------------------


def test_timeouts_come_from_config_and_environment(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text("[server]\nconnect_timeout = 3\nidle_timeout = 7.5\n")
    monkeypatch.setenv("SII_IDLE_TIMEOUT", "9")
    settings = Settings.resolve(workspace=workspace)
    assert settings.server == Timeouts(connect_timeout=3.0, first_token_timeout=300.0, idle_timeout=9.0)
    rows = {row[0]: row[1:] for row in settings.describe()}
    assert rows["server.idle_timeout"] == ("9 s", "environment") and rows["server.first_token_timeout"][1] == "default"


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "1e9", ""], ids=lambda v: v or "empty")
def test_bad_timeouts_are_refused(value: str, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SII_FIRST_TOKEN_TIMEOUT", value)
    if value == "":  # an empty variable is unset, as for every SII_ variable
        assert Settings.resolve(workspace=workspace).server.first_token_timeout == 300.0
        return
    with pytest.raises(ConfigError, match=r"server\.first_token_timeout from environment must be seconds above 0"):
        Settings.resolve(workspace=workspace)


@pytest.mark.parametrize("value", ["0", "true", '"10"', "-3", "1e9"])
def test_bad_timeouts_in_toml_are_refused(value: str, workspace: Path) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text(f"[server]\nidle_timeout = {value}\n")
    with pytest.raises(ConfigError, match=r"server\.idle_timeout (in|from) .* must be"):
        Settings.resolve(workspace=workspace)
