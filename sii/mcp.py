"""MCP servers from the config, their tools offered to the model as ordinary sii tools.

The connections themselves (the SDK, its event loop on a background thread) live in sii.mcp_link, imported
only when there are servers to start: a session without MCP does not pay the SDK's import (seconds). A
server that fails never takes the session down: it is reported in `errors` and its tools are simply missing."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sii.config import McpServerConfig
from tools.base import Observation, Tool, ToolContext

if TYPE_CHECKING:  # the SDK itself is imported only when there are servers to start (sii.mcp_link)
    import mcp_types

    from sii.mcp_link import ServerLink, ServerPool

MCP_PREFIX = "mcp__"
MAX_TOOL_NAME = 64  # what OpenAI-style function names may hold
STARTUP_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    return (MCP_PREFIX + _UNSAFE.sub("_", f"{server}__{tool}"))[:MAX_TOOL_NAME]


class McpConnections:
    """The live MCP sessions of one sii session. Build with `start`, end with `close` (idempotent)."""

    def __init__(self, call_timeout: float = CALL_TIMEOUT) -> None:
        self.errors: list[str] = []
        self.call_timeout = call_timeout
        self._tools: list[Tool] = []
        self._pool: ServerPool | None = None  # only once there are servers
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
            from sii.mcp_link import ServerPool

            connections._pool = ServerPool(configs)
            listed = connections._pool.connect(startup_timeout)
            for server, outcome in zip(connections._pool.servers, listed, strict=True):
                if isinstance(outcome, str):
                    connections.errors.append(outcome)
                else:
                    connections._add_tools(server, outcome)
        return connections

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
            if self._closed or self._pool is None:
                return Observation(f"Error: mcp server {server.config.name!r} is not connected.", is_error=True)
            return self._pool.call(server, remote, arguments, self.call_timeout)

        return run

    def tools(self) -> list[Tool]:
        return list(self._tools)

    def close(self) -> None:
        """Shut every session down (stdio servers are stopped), then the loop and its thread."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.close()
