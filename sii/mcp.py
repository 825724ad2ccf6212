"""Starting a session's MCP servers from its settings. Their tools are wrapped by tools.mcp; the connections (the
SDK, its event loop on a background thread) live in sii.mcp_link, imported only when there are servers to start:
a session without MCP does not pay the SDK's import (seconds)."""

from __future__ import annotations

from collections.abc import Sequence

from sii.config import McpServerConfig
from tools.mcp import CALL_TIMEOUT, STARTUP_TIMEOUT, McpConnections, ServerPool


def start_mcp(
    configs: Sequence[McpServerConfig], startup_timeout: float = STARTUP_TIMEOUT, call_timeout: float = CALL_TIMEOUT
) -> McpConnections:
    """Connect to every configured server at once; those that fail land in the result's `errors`."""
    return McpConnections.start(configs, _open_pool, startup_timeout, call_timeout)


def _open_pool(configs: Sequence[McpServerConfig]) -> ServerPool:
    from sii import mcp_link

    return mcp_link.ServerPool(configs)
