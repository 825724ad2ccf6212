"""A tiny real MCP server for tests/test_mcp.py: stdio by default, streamable HTTP with `--http PORT`."""

from __future__ import annotations

import argparse
import os

import anyio
from mcp.server.mcpserver import Image, MCPServer

server = MCPServer("demo")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper() + "!"


@server.tool()
def fail(reason: str) -> str:
    """Always raise, so the client sees an error result."""
    raise RuntimeError(f"failed on purpose: {reason}")


@server.tool()
def pixel() -> Image:
    """A one-byte 'image', to check how non-text content is described."""
    return Image(data=b"\x89", format="png")


@server.tool()
async def nap(seconds: float) -> str:
    """Sleep, to run past a client's timeout."""
    await anyio.sleep(seconds)
    return "rested"


@server.tool()
def crash() -> str:
    """Kill the server mid-call, as a crashing server would."""
    os._exit(3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, help="serve streamable HTTP on this loopback port")
    options = parser.parse_args()
    if options.http:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run()
