"""One MCP server's connection through the MCP SDK, and its results as sii observations.

Imported only once a session has MCP servers to start: the SDK and its dependencies (pydantic models of every
protocol version, starlette, httpx2...) take seconds to import, which a session without MCP must not pay."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from contextlib import AsyncExitStack
from typing import IO, Any

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

    async def call(self, remote: str, arguments: dict[str, Any], timeout: float) -> Observation:
        """Call one tool of the connected server; raises when it is not connected or the call fails."""
        if self.client is None:
            raise ConnectionError("not connected")
        return observation(await self.client.call_tool(remote, arguments, read_timeout_seconds=timeout))
