"""MCP servers from the config, their tools offered to the model as ordinary sii tools.

The agent loop is synchronous and the MCP SDK is async, so every client session lives on one background
thread with its own event loop; a tool call crosses over with run_coroutine_threadsafe and waits. Each
session is entered and left by its own task, as anyio requires of its task groups. A server that fails
never takes the session down: it is reported in `errors` and its tools are simply missing. The SDK lives in
sii.mcp_link, imported on the first start with servers, so sessions without MCP do not pay its import."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sii.config import McpServerConfig
from tools.base import Observation, Tool, ToolContext

if TYPE_CHECKING:  # the SDK itself is imported only when there are servers to start (sii.mcp_link)
    import mcp_types

    from sii.mcp_link import ServerLink

MCP_PREFIX = "mcp__"
MAX_TOOL_NAME = 64  # what OpenAI-style function names may hold
STARTUP_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
CLOSE_TIMEOUT = 10.0  # the SDK stops a stdio server within ~6 s: stdin closed, then SIGTERM, then SIGKILL
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    return (MCP_PREFIX + _UNSAFE.sub("_", f"{server}__{tool}"))[:MAX_TOOL_NAME]


def _reason(exc: BaseException) -> str:
    """The real failure, not anyio's 'unhandled errors in a TaskGroup' wrapper around it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class McpConnections:
    """The live MCP sessions of one sii session. Build with `start`, end with `close` (idempotent)."""

    def __init__(self, call_timeout: float = CALL_TIMEOUT) -> None:
        self.errors: list[str] = []
        self.call_timeout = call_timeout
        self._tools: list[Tool] = []
        self._servers: list[ServerLink] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # with its thread, only once there are servers
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def start(
        cls,
        configs: Sequence[McpServerConfig],
        startup_timeout: float = STARTUP_TIMEOUT,
        call_timeout: float = CALL_TIMEOUT,
    ) -> McpConnections:
        """Connect to every server at once; those that fail land in `errors`."""
        connections = cls(call_timeout)
        if configs:
            connections._start(configs, startup_timeout)
        return connections

    def _start(self, configs: Sequence[McpServerConfig], startup_timeout: float) -> None:
        from sii.mcp_link import ServerLink

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sii-mcp", daemon=True)
        self._thread.start()
        self._servers = [ServerLink(config) for config in configs]
        listed = asyncio.run_coroutine_threadsafe(self._connect_all(startup_timeout), self._loop).result()
        for server, outcome in zip(self._servers, listed, strict=True):
            if isinstance(outcome, str):
                self.errors.append(outcome)
            else:
                self._add_tools(server, outcome)

    async def _connect_all(self, timeout: float) -> list[list[mcp_types.Tool] | str]:
        return list(await asyncio.gather(*(self._connect(server, timeout) for server in self._servers)))

    async def _connect(self, server: ServerLink, timeout: float) -> list[mcp_types.Tool] | str:
        """The server's tools, or why it could not be used."""
        ready: asyncio.Future[list[mcp_types.Tool]] = asyncio.get_running_loop().create_future()
        server.task = asyncio.create_task(server.serve(ready))
        try:
            return await asyncio.wait_for(ready, timeout)
        except Exception as exc:
            server.task.cancel()
            await asyncio.gather(server.task, return_exceptions=True)
            reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else _reason(exc)
            stderr = server.stderr_tail()
            return f"mcp server {server.config.name!r} failed to start: {reason}" + (
                f"\nits stderr:\n{stderr}" if stderr else ""
            )

    def _add_tools(self, server: ServerLink, listed: list[mcp_types.Tool]) -> None:
        taken = {tool.name for tool in self._tools}
        for remote in listed:
            name = tool_name(server.config.name, remote.name)
            if name in taken:
                self.errors.append(
                    f"mcp server {server.config.name!r}: tool {remote.name!r} skipped, its name {name!r} is taken"
                )
                continue
            taken.add(name)
            summary = remote.description or remote.title or ""
            self._tools.append(
                Tool(
                    name=name,
                    description=f"[MCP server {server.config.name}] {summary}".rstrip(),
                    parameters=dict(remote.input_schema),
                    run=self._runner(server, remote.name),
                    mutates=not server.config.trust,
                )
            )

    def _runner(self, server: ServerLink, remote: str) -> Callable[[dict[str, Any], ToolContext], Observation]:
        def run(arguments: dict[str, Any], context: ToolContext) -> Observation:
            return self._call(server, remote, arguments)

        return run

    def _call(self, server: ServerLink, remote: str, arguments: dict[str, Any]) -> Observation:
        """Call one tool and wait; every failure, a dead server included, becomes an error Observation."""
        name = server.config.name
        if self._closed or server.client is None or self._loop is None:
            return Observation(f"Error: mcp server {name!r} is not connected.", is_error=True)
        future = asyncio.run_coroutine_threadsafe(server.call(remote, arguments, self.call_timeout), self._loop)
        try:
            return future.result(timeout=self.call_timeout + 5)
        except TimeoutError:
            return Observation(
                f"Error: mcp server {name!r} did not answer {remote} within {self.call_timeout:g} s.", is_error=True
            )
        except Exception as exc:
            return Observation(f"Error: mcp server {name!r} failed on {remote}: {_reason(exc)}", is_error=True)
        finally:
            future.cancel()  # a no-op once done; stops a call we gave up on (timeout, Ctrl-C)

    def tools(self) -> list[Tool]:
        return list(self._tools)

    def close(self) -> None:
        """Shut every session down (stdio servers are stopped), then the loop and its thread."""
        if self._closed:
            return
        self._closed = True
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(CLOSE_TIMEOUT + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        for server in self._servers:
            if server.stderr is not None:
                server.stderr.close()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.stop.set()
        owners = [server.task for server in self._servers if server.task is not None]
        if owners:
            await asyncio.wait(owners, timeout=CLOSE_TIMEOUT)
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]  # late owners, calls still running
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()
