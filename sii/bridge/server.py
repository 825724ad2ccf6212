"""The bridge process: requests served in order on the main thread, where turns run, sessions kept by id."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import IO, Any

from model_server.endpoint import EndpointError, resolve_endpoint
from sii import __version__
from sii.bridge.interrupt import (
    STOPPED_BY_CLIENT_LEAVING,
    STOPPED_BY_INTERRUPT,
    STOPPED_BY_TERMINATION,
    STOPPED_BY_TIMEOUT,
    Interrupter,
)
from sii.bridge.options import QueryOptions, continued_session_id, history_messages
from sii.bridge.protocol import BridgeError, Output, Request, parse_request
from sii.bridge.stream import QueryStream
from sii.client import ModelError
from sii.config import Settings
from sii.events import Event, TurnEnd
from sii.mcp import start_mcp
from sii.quick_exit import skip_collection_at_exit
from sii.session import Session, SessionError, settings_tools
from tools.profiles import profile_registry

skip_collection_at_exit()
NODE_ENTRY = Path(__file__).parent.parent / "bridge_node" / "sii-bridge.js"


def open_session(
    settings: Settings, options: QueryOptions, notify: Callable[[str], None], resume: Path | None
) -> Session:
    """The SDK may extend or replace the system prompt and narrow the tools; the recording's header then holds
    what the model got."""
    resolve_endpoint(settings, notify)
    return Session(
        settings,
        face="bridge",
        ask=None,
        notify=notify,
        resume=resume,
        prompt=options.system_prompt_for,
        select_tools=options.tools,
    )


class Bridge:
    """Serves requests in order on the main thread, where turns run; a reader thread takes stdin lines and acts on
    `interrupt` and on the end of input at once. Sessions stay open, by id, until the bridge exits."""

    def __init__(self, infile: IO[bytes], outfile: IO[str]) -> None:
        self.interrupter = Interrupter()
        self.output = Output(outfile, self.interrupter.shield)
        self.sessions: dict[str, Session] = {}
        self._infile = infile
        self._inbox: SimpleQueue[Request | BridgeError | None] = SimpleQueue()  # None: the input ended
        self._stream: QueryStream | None = None

    def serve(self) -> None:
        signal.signal(signal.SIGINT, self.interrupter.handle)
        signal.signal(signal.SIGTERM, self._terminate)
        threading.Thread(target=self._read, name="sii-bridge-stdin", daemon=True).start()
        try:
            while (item := self._inbox.get()) is not None:
                self._serve_one(item)
        finally:
            for session in self.sessions.values():
                session.close()

    def _read(self) -> None:
        for raw in self._infile:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                request = parse_request(line)
            except BridgeError as exc:
                self._inbox.put(exc)
                continue
            if request.method == "interrupt":
                self._interrupt(request)
            else:
                self._inbox.put(request)
        self.interrupter.input_ended(STOPPED_BY_CLIENT_LEAVING)
        self._inbox.put(None)

    def _terminate(self, signum: int, frame: object) -> None:
        """SIGTERM: end like a closed stdin, so the recording and the shell are closed properly. The stop is made
        from another thread: this handler runs on the main thread, which may hold the interrupter's lock."""
        self._inbox.put(None)
        threading.Thread(target=self.interrupter.stop, args=("terminated", STOPPED_BY_TERMINATION)).start()

    def _interrupt(self, request: Request) -> None:
        stopped = self.interrupter.request("interrupt request", STOPPED_BY_INTERRUPT)
        status, message = ("interrupting", "the running turn is stopping") if stopped else ("idle", "nothing runs")
        self.output.send(request.request_id, "status", status=status, message=message)

    def _serve_one(self, item: Request | BridgeError) -> None:
        try:
            if isinstance(item, BridgeError):
                raise item
            if item.method == "query":
                self._query(item)
            else:
                self._list_tools(item)
        except BridgeError as exc:
            self.output.error(exc)
        except Exception as exc:  # a bug must not end the bridge: report it and serve the next request
            traceback.print_exc()
            request_id = getattr(item, "request_id", None)
            self.output.error(BridgeError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", request_id))

    def _list_tools(self, request: Request) -> None:
        options = QueryOptions.parse(request.params.get("options", {}), request.request_id)
        live = self.sessions.get(str(request.params.get("session_id")))
        if live is not None:
            schemas = live.agent.registry.schemas()
        else:
            settings = options.settings(request.request_id)
            mcp = start_mcp(settings.mcp_servers)
            try:  # the tools a query would be offered: the configured ones, narrowed by the SDK's allowed_tools
                offered = profile_registry(settings.tool_profile, extra=mcp.tools())
                schemas = options.tools(settings_tools(settings, offered, lambda _: None)).schemas()
            except SessionError as exc:
                raise BridgeError("SESSION_ERROR", str(exc), request.request_id) from None
            finally:
                mcp.close()
        names = [schema["function"]["name"] for schema in schemas]
        self.output.send(request.request_id, "completed", metadata={"available_tools": names, "tools": schemas})

    def _session(self, request: Request, options: QueryOptions, settings: Settings) -> Session:
        """The conversation the query continues: open here, else its recording, else the SDK's history; or a new one."""
        wanted = continued_session_id(request.params)
        notify = self._notifier(request.request_id)
        if wanted in self.sessions:
            session = self.sessions[wanted]
            session.retune(settings, options.system_prompt_for, options.tools, notify)
            return session
        recording = settings.recordings / f"{wanted}.jsonl" if wanted else None
        resume = recording if recording is not None and recording.is_file() else None
        try:
            session = open_session(settings, options, notify, resume)
        except (ModelError, SessionError, EndpointError, ValueError, OSError) as exc:
            raise BridgeError("SESSION_ERROR", str(exc), request.request_id) from None
        if resume is None:
            session.append(history_messages(request.params.get("history") or []))
        else:  # the recording's view holds the system prompt and tools it was last run with
            session.retune(settings)
        session.subscribe(self._forward)
        self.sessions[session.id] = session
        return session

    def _notifier(self, request_id: Any) -> Callable[[str], None]:
        def notify(text: str) -> None:
            self.output.send(request_id, "status", status="notice", message=text)

        return notify

    def _forward(self, event: Event) -> None:
        if self._stream is not None:
            self._stream(event)

    def _query(self, request: Request) -> None:
        request_id = request.request_id
        cancelled = BridgeError("CANCELLED", "the bridge was stopped before this query started", request_id)
        if self.interrupter.stopped:
            raise cancelled
        prompt = request.params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BridgeError("INVALID_REQUEST", "params.prompt must be a non-empty string", request_id)
        options = QueryOptions.parse(request.params.get("options", {}), request_id)
        session = self._session(request, options, options.settings(request_id))
        tools = [schema["function"]["name"] for schema in session.agent.registry.schemas()]
        self.output.send(
            request_id,
            "status",
            status="ready",
            message=f"sii {__version__}: session {session.id}, model {session.client.model}",
            auth_type=options.auth_type,
            available_tools=tools,
            session_id=session.id,
        )
        started = time.monotonic()
        self._stream = stream = QueryStream(self.output, request_id)
        note = STOPPED_BY_TIMEOUT.format(ms=options.timeout_ms)
        timer = threading.Timer(options.timeout_ms / 1000, self.interrupter.request, ("timeout", note))
        timer.daemon = True
        timer.start()
        ends: list[TurnEnd] = []
        try:
            ran = self.interrupter.run(lambda: ends.append(session.agent.run_turn(prompt)))
        finally:
            timer.cancel()
            self._stream = None
        if not ran:
            raise cancelled
        # The agent answers every call however the turn ends; an interrupt landing just as the turn returned may
        # only have cost the value returned, and the stream saw the same TurnEnd.
        end = ends[0] if ends else stream.end or TurnEnd("interrupted", 0)
        if end.reason == "error":
            message = stream.errors[-1] if stream.errors else "the model server failed"
            raise BridgeError("MODEL_ERROR", message, request_id, session_id=session.id)
        if end.reason == "interrupted" and self.interrupter.reason == "timeout":
            message = f"the turn ran longer than timeout_ms={options.timeout_ms} and was interrupted"
            raise BridgeError("TIMEOUT", message, request_id, timeout_ms=options.timeout_ms, session_id=session.id)
        metadata = {
            "turns_used": end.steps,
            "time_elapsed": round((time.monotonic() - started) * 1000),
            "tokens_used": sum(end.usage.values()),
            "tools_used": stream.tools_used,
            "session_id": session.id,
            "stop_reason": end.reason,
            "model": session.client.model,
            "recording": str(session.recording_path),
        }
        self.output.send(request_id, "completed", metadata=metadata)


def claim_stdio() -> tuple[IO[bytes], IO[str]]:
    """The protocol's own handles on stdin and stdout; fds 0 and 1 then point at /dev/null and stderr, so neither a
    stray print nor a child process can corrupt the JSON lines or eat the requests."""
    infile = os.fdopen(os.dup(0), "rb")
    outfile = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return infile, outfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sii.bridge",
        description="The bridge sii-agent-sdk drives: JSON lines on stdin and stdout. "
        "Point the SDK at it with: export SII_BRIDGE_PATH=$(python -m sii.bridge --path)",
    )
    parser.add_argument("--path", action="store_true", help="print the Node entry to set as SII_BRIDGE_PATH")
    if parser.parse_args(argv).path:
        print(NODE_ENTRY)
        return 0
    Bridge(*claim_stdio()).serve()
    # Everything is closed and flushed by now. Interpreter exit would still collect every object (about 0.5 s
    # with the MCP library loaded); frozen ones it leaves alone, so the SDK sees the exit at once.
    gc.freeze()
    return 0
