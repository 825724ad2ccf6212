"""`python -m sii.bridge`: the JSON-lines bridge that the `sii-agent-sdk` package (0.1.x) drives, so AgencyBench
and other SDK users run sii unchanged. The SDK starts `node $SII_BRIDGE_PATH` (sii/bridge_node/sii-bridge.js, which
runs this module with the same stdio), writes one request per line and reads events until `completed` or `error`:

  request  {"protocol_version": "1.0.0", "request_id", "method": "query" | "list_tools" | "interrupt", "params"}
  query    params {"prompt", "options": SiiAgentOptions.to_dict(), "session_id"?, "history"?}
  events   status, assistant_message, tool_result, completed, error; each also carries the request_id

The SDK starts one bridge per query and closes stdin once it has read the last event, so a conversation outlives
the process through its recording: a query naming a session id resumes that recording (after an error the SDK
sends no id, so the one in the error's details, which it keeps in the history it sends, is used). Every query's
options take effect, in a live session as in a resumed one: its cwd (a new tool context and shell), its tools and
its system prompt (see Session.retune). Closing stdin while a turn runs interrupts it and the bridge exits at once,
its recording closed; requests read before stdin closed with no turn running are still served, then it exits."""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import IO, Any

from recordings.schema import Message, ToolCall
from sii import __version__
from sii.agent import answer_unanswered_calls
from sii.client import ModelError
from sii.config import Settings
from sii.events import AssistantMessage, Compacted, ErrorEvent, Event, ToolResult, TurnEnd
from sii.mcp import McpConnections
from sii.prompts import system_prompt
from sii.quick_exit import skip_collection_at_exit
from sii.session import Session, SessionError, settings_tools
from tools.base import ToolRegistry
from tools.default import default_registry

skip_collection_at_exit()
NODE_ENTRY = Path(__file__).parent / "bridge_node" / "sii-bridge.js"
METHODS = ("query", "list_tools", "interrupt")
# SiiAgentOptions' model when SII_OPENAI_MODEL is unset: a placeholder, not a choice, so sii picks the model.
SDK_PLACEHOLDER_MODEL = "GLM-4.6"
# Tool names of the original SII CLI (a Gemini CLI fork) and the SDK's README -> sii's, for `allowed_tools`.
TOOL_ALIASES = {
    "list_dir": "list_directory",
    "search_file_content": "grep",
    "grep_search": "grep",
    "replace": "edit_file",
    "run_shell_command": "run_shell",
}
SESSION_ID = re.compile(r"[A-Za-z0-9_.-]+")
# What the model reads in place of a call's result when the turn was stopped, by why it was stopped.
STOPPED_BY_INTERRUPT = "Interrupted by the client (an interrupt request) before this call finished."
STOPPED_BY_TIMEOUT = "Stopped before this call finished: the query ran past the client's time limit (timeout_ms={ms})."
STOPPED_BY_CLIENT_LEAVING = "Stopped before this call finished: the client closed the connection."
STOPPED_BY_TERMINATION = "Stopped before this call finished: the bridge was terminated."
# SiiAgentOptions field -> (type, the SDK's default). Other fields (log_events, enable_data_upload) are SDK-side.
OPTION_TYPES: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "system_prompt": (str, None),
    "max_turns": (int, 10),
    "allowed_tools": (list, None),
    "cwd": (str, None),
    "auth_type": (str, "USE_SII"),
    "yolo": (bool, False),
    "run_model": (str, "agent"),
    "timeout_ms": (int, 120000),
    "model": (str, None),
    "temperature": ((int, float), None),
}


class BridgeError(Exception):
    """A request that cannot be served; it becomes an `error` event and the bridge goes on."""

    def __init__(self, code: str, message: str, request_id: Any = None, **details: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.request_id, self.details = code, message, request_id, details


@dataclass(frozen=True)
class Request:
    request_id: Any
    method: str
    params: dict[str, Any]


def parse_request(line: str) -> Request:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BridgeError("INVALID_REQUEST", f"not a JSON line: {exc}") from None
    if not isinstance(data, dict):
        raise BridgeError("INVALID_REQUEST", "a request must be a JSON object")
    request_id = data.get("request_id")
    version = str(data.get("protocol_version", "1"))
    if version.split(".")[0] != "1":
        message = f"protocol {version} is not supported; this bridge speaks 1.x"
        raise BridgeError("UNSUPPORTED_PROTOCOL", message, request_id)
    method, params = data.get("method"), data.get("params", {})
    if method not in METHODS:
        raise BridgeError("UNKNOWN_METHOD", f"unknown method {method!r}; known: {', '.join(METHODS)}", request_id)
    if not isinstance(params, dict):
        raise BridgeError("INVALID_REQUEST", "params must be a JSON object", request_id)
    return Request(request_id, method, params)


@dataclass(frozen=True)
class QueryOptions:
    """The SDK's SiiAgentOptions as they arrive; `allowed_tools` empty or absent means every tool."""

    system_prompt: str | None = None
    max_turns: int = 10
    allowed_tools: tuple[str, ...] = ()
    cwd: Path = field(default_factory=Path.cwd)
    auth_type: str = "USE_SII"
    yolo: bool = False
    run_model: str = "agent"
    timeout_ms: int = 120000
    model: str | None = None
    temperature: float | None = None

    @classmethod
    def parse(cls, raw: Any, request_id: Any) -> QueryOptions:
        if not isinstance(raw, dict):
            raise BridgeError("INVALID_REQUEST", "options must be a JSON object", request_id)
        values: dict[str, Any] = {}
        for key, (kind, default) in OPTION_TYPES.items():
            value = raw.get(key, default)
            if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
                raise BridgeError("INVALID_REQUEST", f"options.{key} has the wrong type: {value!r}", request_id)
            values[key] = value
        tools = values["allowed_tools"] or []
        if not all(isinstance(name, str) for name in tools):
            raise BridgeError("INVALID_REQUEST", "options.allowed_tools must be a list of names", request_id)
        if values["run_model"] not in ("agent", "ask"):
            raise BridgeError("INVALID_REQUEST", "options.run_model must be 'agent' or 'ask'", request_id)
        if values["max_turns"] < 1 or values["timeout_ms"] < 1:
            message = "options.max_turns and options.timeout_ms must be positive"
            raise BridgeError("INVALID_REQUEST", message, request_id)
        cwd = Path(values["cwd"]).expanduser() if values["cwd"] else Path.cwd()
        if not cwd.is_dir():
            raise BridgeError("INVALID_REQUEST", f"options.cwd {cwd} is not a directory", request_id)
        return cls(**{**values, "allowed_tools": tuple(tools), "cwd": cwd})

    def settings(self, request_id: Any) -> Settings:
        """sii's settings for this query: the SDK's SII_OPENAI_* variables win over sii's own configuration."""
        model = self.model
        if model == SDK_PLACEHOLDER_MODEL and not os.environ.get("SII_OPENAI_MODEL"):
            model = None
        try:
            settings = Settings.resolve(
                base_url=os.environ.get("SII_OPENAI_BASE_URL") or None,
                model=model,
                workspace=self.cwd,
                max_steps=self.max_turns,
                mode="yolo" if self.yolo else None,
            )
        except ValueError as exc:  # a broken config file
            raise BridgeError("SESSION_ERROR", str(exc), request_id) from None
        settings.api_key = os.environ.get("SII_OPENAI_API_KEY") or settings.api_key
        if self.temperature is not None:
            settings.sampling["temperature"] = self.temperature
        return settings

    def system_prompt_for(self, workspace: Path) -> str:
        """`agent`: sii's prompt plus the caller's; `ask`: the caller's alone (the SDK always sends one)."""
        if self.run_model == "ask":
            return self.system_prompt or ""
        base = system_prompt(workspace)
        return f"{base}\n\n{self.system_prompt}" if self.system_prompt else base

    def tools(self, registry: ToolRegistry) -> ToolRegistry:
        if self.run_model == "ask":
            return ToolRegistry([])
        if not self.allowed_tools:
            return registry
        names = dict.fromkeys(TOOL_ALIASES.get(name, name) for name in self.allowed_tools)
        return ToolRegistry([tool for name in names if (tool := registry.get(name)) is not None])


def open_session(
    settings: Settings, options: QueryOptions, notify: Callable[[str], None], resume: Path | None
) -> Session:
    """The SDK may extend or replace the system prompt and narrow the tools; the recording's header then holds
    what the model got."""
    return Session(
        settings,
        face="bridge",
        ask=None,
        notify=notify,
        resume=resume,
        prompt=options.system_prompt_for,
        select_tools=options.tools,
    )


def history_messages(turns: Iterable[Any]) -> list[Message]:
    """The SDK's own transcript (SessionState.history) as chat messages, for a conversation whose recording this
    bridge cannot find. An assistant's text and the calls after it become one message; every call is answered."""
    messages: list[Message] = []
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(content := turn.get("content"), str):
            continue
        role, call_id, name = turn.get("role"), turn.get("tool_call_id"), turn.get("tool_name")
        last = messages[-1] if messages and messages[-1]["role"] == "assistant" else None
        if role == "user":
            messages.append({"role": "user", "content": content})
        elif role == "tool" and isinstance(call_id, str):
            messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        elif role == "assistant" and isinstance(call_id, str) and isinstance(name, str):
            metadata = turn.get("metadata")
            arguments = metadata.get("input") if isinstance(metadata, dict) else None
            arguments = arguments if isinstance(arguments, dict | str) else {}
            call: ToolCall = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            if last is None:
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif role == "assistant":
            messages.append({"role": "assistant", "content": content})
    return messages + answer_unanswered_calls(messages)


def continued_session_id(params: dict[str, Any]) -> str | None:
    """The session a query continues: its `session_id`, else the one the last error in the SDK's history names.
    The SDK learns the id only from `completed` and raises on `error`, so after a first query that failed (a
    timeout) it sends no id; but it keeps the error event, details and all, in the history it sends back."""
    wanted = params.get("session_id")
    history = params.get("history")
    for turn in reversed(history if isinstance(history, list) and wanted is None else []):
        for key in ("metadata", "error", "details", "session_id"):
            turn = turn.get(key) if isinstance(turn, dict) else None
        if turn is not None:
            wanted = turn
            break
    return wanted if isinstance(wanted, str) and SESSION_ID.fullmatch(wanted) else None


def tool_use(call: ToolCall) -> dict[str, Any]:
    arguments = call["function"]["arguments"]
    tool_input = arguments if isinstance(arguments, dict) else {"unparsed_arguments": arguments}
    return {"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": tool_input}


class Output:
    """Event lines on the protocol stream, one writer at a time; once the client has gone, writes are dropped."""

    def __init__(self, stream: IO[str], shield: Callable[[], AbstractContextManager[None]]) -> None:
        self._stream = stream
        self._shield = shield
        self._lock = threading.Lock()
        self._gone = False

    def send(self, request_id: Any, kind: str, **fields: Any) -> None:
        line = json.dumps({"type": kind, "request_id": request_id, **fields}) + "\n"
        with self._shield(), self._lock:
            if self._gone:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):
                self._gone = True

    def error(self, exc: BridgeError) -> None:
        self.send(exc.request_id, "error", error={"code": exc.code, "message": exc.message, "details": exc.details})


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


@dataclass
class QueryStream:
    """One query's agent events as SDK events, plus the numbers `completed` reports."""

    output: Output
    request_id: Any
    tools_used: list[str] = field(default_factory=list)
    tokens: int = 0
    errors: list[str] = field(default_factory=list)
    end: TurnEnd | None = None

    def __call__(self, event: Event) -> None:
        match event:
            case AssistantMessage(message=message, usage=usage):
                self.tokens += usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
                blocks = [{"type": "text", "text": message["content"]}] if message["content"] else []
                blocks += [tool_use(call) for call in message.get("tool_calls", [])]
                if blocks:
                    self.output.send(self.request_id, "assistant_message", role="assistant", content=blocks)
            case ToolResult(call=call, observation=observation):
                name = call["function"]["name"]
                if name not in self.tools_used:
                    self.tools_used.append(name)
                self.output.send(
                    self.request_id,
                    "tool_result",
                    tool_use_id=call["id"],
                    content=observation.text,
                    is_error=observation.is_error,
                )
            case Compacted(tokens_before=tokens_before):
                message = f"the conversation was compacted ({tokens_before} tokens before)"
                self.output.send(self.request_id, "status", status="compacted", message=message)
            case ErrorEvent(message=text):
                self.errors.append(text)
            case TurnEnd():
                self.end = event


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
            mcp = McpConnections.start(settings.mcp_servers)
            try:  # the tools a query would be offered: the configured ones, narrowed by the SDK's allowed_tools
                registry = settings_tools(settings, default_registry(extra=mcp.tools()), lambda _: None)
                schemas = options.tools(registry).schemas()
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
            session.agent.max_steps = settings.max_steps
            session.agent.sampling.update(temperature=settings.sampling["temperature"])
            session.policy.mode = settings.mode  # type: ignore[assignment]  # checked by Settings.resolve
            session.retune(settings, options.system_prompt_for, options.tools, notify)
            return session
        recording = settings.recordings / f"{wanted}.jsonl" if wanted else None
        resume = recording if recording is not None and recording.is_file() else None
        try:
            session = open_session(settings, options, notify, resume)
        except (ModelError, SessionError, ValueError, OSError) as exc:
            raise BridgeError("SESSION_ERROR", str(exc), request.request_id) from None
        if resume is None and (seeded := history_messages(request.params.get("history") or [])):
            session.agent.messages += seeded
            for message in seeded:
                session.recorder.writer.write("message", message=message)
        if resume is not None:  # the recording's view holds the system prompt and tools it was last run with
            session.retune(settings, options.system_prompt_for, options.tools, notify)
        session.agent.subscribe(self._forward)
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
        try:
            ran = self.interrupter.run(lambda: session.agent.run_turn(prompt))
        finally:
            timer.cancel()
            self._stream = None
        if not ran:
            raise cancelled
        end = stream.end or self._repair(session)
        if end.reason == "error":
            message = stream.errors[-1] if stream.errors else "the model server failed"
            raise BridgeError("MODEL_ERROR", message, request_id, session_id=session.id)
        if end.reason == "interrupted" and self.interrupter.reason == "timeout":
            message = f"the turn ran longer than timeout_ms={options.timeout_ms} and was interrupted"
            raise BridgeError("TIMEOUT", message, request_id, timeout_ms=options.timeout_ms, session_id=session.id)
        metadata = {
            "turns_used": end.steps,
            "time_elapsed": round((time.monotonic() - started) * 1000),
            "tokens_used": stream.tokens,
            "tools_used": stream.tools_used,
            "session_id": session.id,
            "stop_reason": end.reason,
            "model": session.client.model,
            "recording": str(session.recording_path),
        }
        self.output.send(request_id, "completed", metadata=metadata)

    def _repair(self, session: Session) -> TurnEnd:
        """An interrupt escaped the agent between its own handlers: answer the open calls, as a resume would, and
        end the turn in the recording."""
        repairs = answer_unanswered_calls(session.agent.messages)
        session.agent.messages += repairs
        for message in repairs:
            session.recorder.writer.write("message", message=message)
        end = TurnEnd("interrupted", 0)
        session.recorder(end)
        return end


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


if __name__ == "__main__":
    raise SystemExit(main())
