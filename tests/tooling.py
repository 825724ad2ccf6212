"""Calling a tool the way the agent does, and waiting on what it started, for tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tools import Observation, ToolContext
from tools.default import default_registry


def run(ctx: ToolContext, tool: str, /, **arguments: Any) -> Observation:
    """Dispatch through the default registry: the same checks and error handling as a model's call."""
    return default_registry().dispatch(tool, arguments, ctx)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
