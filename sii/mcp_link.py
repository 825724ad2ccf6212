"""The MCP servers' connections through the MCP SDK (the pool tools.mcp calls through), and their results as
sii observations.

Imported only once a session has MCP servers to start: the SDK and its dependencies (pydantic models of every
protocol version, starlette, httpx2...) take seconds to import, which a session without MCP must not pay."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any, TextIO

import httpx2
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from sii import __version__
from sii.config import McpServerConfig
from tools.base import Observation
from tools.text import cap_output

STDERR_TAIL = 2000
CLOSE_TIMEOUT = 10.0  # the SDK stops a stdio server within ~6 s: stdin closed, then SIGTERM, then SIGKILL


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


class ServerLink:
    """One server's connection, owned by the task that runs `serve` until `stop` is set: each session is entered
    and left by its own task, as anyio requires of its task groups."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self.client: Client | None = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # The server's stderr: kept out of the terminal, and quoted when the server fails to start.
        self.stderr: TextIO | None = tempfile.TemporaryFile("w+") if config.command else None  # noqa: SIM115 - closed by ServerPool.close

    async def _client(self, stack: AsyncExitStack) -> Client:
        info = mcp_types.Implementation(name="sii", version=__version__)
        config = self.config
        if config.command is not None and self.stderr is not None:  # a command server has its stderr file
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

    async def call(self, remote: str, arguments: dict[str, Any], timeout: float) -> Observation:
        """Call one tool of the connected server; raises when it is not connected or the call fails."""
        if self.client is None:
            raise ConnectionError("not connected")
        return observation(await self.client.call_tool(remote, arguments, read_timeout_seconds=timeout))


class ServerPool:
    """The connections of one session on a background thread with its own event loop, since the agent loop is
    synchronous and the SDK async: a call crosses over with run_coroutine_threadsafe and waits."""

    def __init__(self, configs: Sequence[McpServerConfig]) -> None:
        self.servers = [ServerLink(config) for config in configs]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sii-mcp", daemon=True)
        self._thread.start()

    def connect(self, timeout: float) -> list[list[mcp_types.Tool] | str]:
        """Connect to every server at once: each one's tools, or why it could not be used."""
        return asyncio.run_coroutine_threadsafe(self._connect_all(timeout), self._loop).result()

    async def _connect_all(self, timeout: float) -> list[list[mcp_types.Tool] | str]:
        return list(await asyncio.gather(*(self._connect(server, timeout) for server in self.servers)))

    async def _connect(self, server: ServerLink, timeout: float) -> list[mcp_types.Tool] | str:
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

    def call(self, index: int, remote: str, arguments: dict[str, Any], timeout: float) -> Observation:
        """Call one tool of the `index`th server and wait; every failure, a dead server included, becomes an error
        Observation."""
        server = self.servers[index]
        name = server.config.name
        if server.client is None or self._loop.is_closed():
            return Observation(f"Error: mcp server {name!r} is not connected.", is_error=True)
        future = asyncio.run_coroutine_threadsafe(server.call(remote, arguments, timeout), self._loop)
        try:
            return future.result(timeout=timeout + 5)
        except TimeoutError:
            return Observation(
                f"Error: mcp server {name!r} did not answer {remote} within {timeout:g} s.", is_error=True
            )
        except Exception as exc:
            return Observation(f"Error: mcp server {name!r} failed on {remote}: {_reason(exc)}", is_error=True)
        finally:
            future.cancel()  # a no-op once done; stops a call we gave up on (timeout, Ctrl-C)

    def close(self) -> None:
        """Shut every session down (stdio servers are stopped), then the loop and its thread."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(CLOSE_TIMEOUT + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        for server in self.servers:
            if server.stderr is not None:
                server.stderr.close()

    async def _shutdown(self) -> None:
        for server in self.servers:
            server.stop.set()
        owners = [server.task for server in self.servers if server.task is not None]
        if owners:
            await asyncio.wait(owners, timeout=CLOSE_TIMEOUT)
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]  # late owners, calls still running
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()
