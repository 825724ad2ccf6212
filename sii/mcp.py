"""MCP servers from the config, their tools offered to the model as ordinary sii tools.

The agent loop is synchronous and the MCP SDK is async, so every client session lives on one background
thread with its own event loop; a tool call crosses over with run_coroutine_threadsafe and waits. Each
session is entered and left by its own task, as anyio requires of its task groups. A server that fails
never takes the session down: it is reported in `errors` and its tools are simply missing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import IO, Any

import httpx2
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from sii import __version__
from sii.config import McpServerConfig
from tools.base import Observation, Tool, ToolContext
from tools.text import cap_output

MCP_PREFIX = "mcp__"
MAX_TOOL_NAME = 64  # what OpenAI-style function names may hold
STARTUP_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
CLOSE_TIMEOUT = 10.0  # the SDK stops a stdio server within ~6 s: stdin closed, then SIGTERM, then SIGKILL
STDERR_TAIL = 2000
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    return (MCP_PREFIX + _UNSAFE.sub("_", f"{server}__{tool}"))[:MAX_TOOL_NAME]


def _reason(exc: BaseException) -> str:
    """The real failure, not anyio's 'unhandled errors in a TaskGroup' wrapper around it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _size(data: str) -> int:
    """Bytes held by base64 text, without decoding it."""
    return len(data.rstrip("=")) * 3 // 4


def _describe(block: mcp_types.ContentBlock) -> str:
    """One content block as text for the model; binary content is described, never inlined."""
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
        return f"[{block.type}: {block.mime_type}, {_size(block.data)} bytes]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource link: {block.uri}]"
    resource = block.resource
    if isinstance(resource, mcp_types.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    return f"[resource {resource.uri}: {resource.mime_type or 'binary'}, {_size(resource.blob)} bytes]"


def observation(result: mcp_types.CallToolResult) -> Observation:
    """A tool result as sii reports it: text blocks joined (and capped), structured content kept in data."""
    text = "\n".join(_describe(block) for block in result.content)
    data: dict[str, Any] = {}
    if result.structured_content is not None:
        data["structured_content"] = result.structured_content
        text = text or json.dumps(result.structured_content)
    return Observation(cap_output(text) or "(no output)", is_error=bool(result.is_error), data=data)


class _Server:
    """One server's connection, owned by the task that runs `serve` until `stop` is set."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self.client: Client | None = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # The server's stderr: kept out of the terminal, and quoted when the server fails to start.
        self.stderr: IO[bytes] | None = tempfile.TemporaryFile() if config.command else None  # noqa: SIM115 - closed by McpConnections.close

    async def _client(self, stack: AsyncExitStack) -> Client:
        info = mcp_types.Implementation(name="sii", version=__version__)
        config = self.config
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command, args=list(config.args), env=config.env or None, cwd=config.cwd
            )
            return Client(stdio_client(params, errlog=self.stderr), client_info=info)
        assert config.url is not None  # the config accepts a server only with command or url
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
        )
        return Client(streamable_http_client(config.url, http_client=http), client_info=info)

    async def serve(self, ready: asyncio.Future[list[mcp_types.Tool]]) -> None:
        """Connect, list the tools, then hold the session open until `stop`."""
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(await self._client(stack))
                tools: list[mcp_types.Tool] = []
                cursor: str | None = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self.client = client
                if not ready.done():
                    ready.set_result(tools)
                await self.stop.wait()
        except Exception as exc:  # after startup, a broken connection shows up in the calls instead
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self.client = None

    def stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        size = os.fstat(self.stderr.fileno()).st_size
        # pread leaves the offset alone: the server, if still alive, shares it.
        tail = os.pread(self.stderr.fileno(), STDERR_TAIL, max(0, size - STDERR_TAIL))
        return tail.decode("utf-8", errors="replace").strip()


class McpConnections:
    """The live MCP sessions of one sii session. Build with `start`, end with `close` (idempotent)."""

    def __init__(self, call_timeout: float = CALL_TIMEOUT) -> None:
        self.errors: list[str] = []
        self.call_timeout = call_timeout
        self._tools: list[Tool] = []
        self._servers: list[_Server] = []
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
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sii-mcp", daemon=True)
        self._thread.start()
        self._servers = [_Server(config) for config in configs]
        listed = asyncio.run_coroutine_threadsafe(self._connect_all(startup_timeout), self._loop).result()
        for server, outcome in zip(self._servers, listed, strict=True):
            if isinstance(outcome, str):
                self.errors.append(outcome)
            else:
                self._add_tools(server, outcome)

    async def _connect_all(self, timeout: float) -> list[list[mcp_types.Tool] | str]:
        return list(await asyncio.gather(*(self._connect(server, timeout) for server in self._servers)))

    async def _connect(self, server: _Server, timeout: float) -> list[mcp_types.Tool] | str:
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

    def _add_tools(self, server: _Server, listed: list[mcp_types.Tool]) -> None:
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

    def _runner(self, server: _Server, remote: str) -> Callable[[dict[str, Any], ToolContext], Observation]:
        def run(arguments: dict[str, Any], context: ToolContext) -> Observation:
            return self._call(server, remote, arguments)

        return run

    def _call(self, server: _Server, remote: str, arguments: dict[str, Any]) -> Observation:
        """Call one tool and wait; every failure, a dead server included, becomes an error Observation."""
        name = server.config.name
        client = server.client
        if self._closed or client is None or self._loop is None:
            return Observation(f"Error: mcp server {name!r} is not connected.", is_error=True)
        future = asyncio.run_coroutine_threadsafe(
            client.call_tool(remote, arguments, read_timeout_seconds=self.call_timeout), self._loop
        )
        try:
            return observation(future.result(timeout=self.call_timeout + 5))
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
