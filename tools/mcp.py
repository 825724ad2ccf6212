"""MCP servers' tools offered to the model as ordinary sii tools: each named mcp__<server>__<tool>, described as its
server's, approved like a shell command unless the user trusts the server, and called through a pool of live
connections. The pool is the face's (sii.mcp_link holds the SDK and its event loop) and so are the servers'
settings: this module only needs each server's name and whether it is trusted. A server that fails never takes
the session down: it is reported in `errors` and its tools are simply missing."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from tools.base import Observation, Tool, ToolContext

MCP_PREFIX = "mcp__"
MAX_TOOL_NAME = 64  # what OpenAI-style function names may hold
STARTUP_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class McpServer(Protocol):
    """What the wrappers need of one server's settings (sii.config.McpServerConfig)."""

    @property
    def name(self) -> str: ...

    @property
    def trust(self) -> bool: ...


class RemoteTool(Protocol):
    """One tool as a server lists it (mcp_types.Tool)."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str | None: ...

    @property
    def description(self) -> str | None: ...

    @property
    def input_schema(self) -> dict[str, Any]: ...


class ServerPool(Protocol):
    """The live connections, one per server in the order given: `connect` lists each one's tools (or says why it
    could not be used), `call` never raises (every failure is an error Observation)."""

    def connect(self, timeout: float) -> Sequence[Sequence[RemoteTool] | str]: ...

    def call(self, index: int, remote: str, arguments: dict[str, Any], timeout: float) -> Observation: ...

    def close(self) -> None: ...


Server = TypeVar("Server", bound=McpServer)


def tool_name(server: str, tool: str) -> str:
    return (MCP_PREFIX + _UNSAFE.sub("_", f"{server}__{tool}"))[:MAX_TOOL_NAME]


class McpConnections:
    """The MCP tools of one session. Build with `start`, end with `close` (idempotent)."""

    def __init__(self, call_timeout: float = CALL_TIMEOUT) -> None:
        self.errors: list[str] = []
        self.call_timeout = call_timeout
        self._tools: list[Tool] = []
        self._pool: ServerPool | None = None  # only once there are servers
        self._closed = False

    @classmethod
    def start(
        cls,
        servers: Sequence[Server],
        open_pool: Callable[[Sequence[Server]], ServerPool],
        startup_timeout: float = STARTUP_TIMEOUT,
        call_timeout: float = CALL_TIMEOUT,
    ) -> McpConnections:
        """Connect to every server at once (`open_pool` is called only when there are some); those that fail land
        in `errors`."""
        connections = cls(call_timeout)
        if servers:
            connections._pool = open_pool(servers)
            listed = connections._pool.connect(startup_timeout)
            for index, (server, outcome) in enumerate(zip(servers, listed, strict=True)):
                if isinstance(outcome, str):
                    connections.errors.append(outcome)
                else:
                    connections._add_tools(index, server, outcome)
        return connections

    def _add_tools(self, index: int, server: McpServer, listed: Sequence[RemoteTool]) -> None:
        taken = {tool.name for tool in self._tools}
        for remote in listed:
            name = tool_name(server.name, remote.name)
            if name in taken:
                self.errors.append(
                    f"mcp server {server.name!r}: tool {remote.name!r} skipped, its name {name!r} is taken"
                )
                continue
            taken.add(name)
            summary = remote.description or remote.title or ""
            self._tools.append(
                Tool(
                    name=name,
                    description=f"[MCP server {server.name}] {summary}".rstrip(),
                    parameters=dict(remote.input_schema),
                    run=self._runner(index, server.name, remote.name),
                    mutates=not server.trust,
                )
            )

    def _runner(self, index: int, server: str, remote: str) -> Callable[[dict[str, Any], ToolContext], Observation]:
        def run(arguments: dict[str, Any], context: ToolContext) -> Observation:
            if self._closed or self._pool is None:
                return Observation(f"Error: mcp server {server!r} is not connected.", is_error=True)
            return self._pool.call(index, remote, arguments, self.call_timeout)

        return run

    def tools(self) -> list[Tool]:
        return list(self._tools)

    def close(self) -> None:
        """Shut every session down (stdio servers are stopped), then the pool."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.close()
