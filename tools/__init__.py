"""Tools the agent can call: each a name, a JSON schema for the model, and a function returning an Observation."""

from tools.base import Observation, Tool, ToolContext, ToolError, ToolRegistry
from tools.default import default_registry

__all__ = ["Observation", "Tool", "ToolContext", "ToolError", "ToolRegistry", "default_registry"]
