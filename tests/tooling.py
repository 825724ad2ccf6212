"""Calling a tool the way the agent does, for tests."""

from __future__ import annotations

from typing import Any

from tools import Observation, ToolContext
from tools.default import default_registry


def run(ctx: ToolContext, tool: str, /, **arguments: Any) -> Observation:
    """Dispatch through the default registry: the same checks and error handling as a model's call."""
    return default_registry().dispatch(tool, arguments, ctx)
