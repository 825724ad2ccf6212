"""Tools the agent can call: each a name, a JSON schema for the model, and a function returning an Observation.
The default set lives in `tools.default` (imported on demand: it pulls in git and tree-sitter)."""

from tools.base import Observation, Tool, ToolContext, ToolError, ToolRegistry

__all__ = ["Observation", "Tool", "ToolContext", "ToolError", "ToolRegistry"]
