"""Tool profiles: the tool surface a model is offered, by name. `sii` is sii's own; `sii-cli` is SII CLI's (Gemini
CLI's tool names, schemas and observation texts), for models fine-tuned on SII CLI trajectories (LIMI). Every
profile tool is an adapter over sii's own tool, so confinement, approval, undo and recording are the same."""

from __future__ import annotations

from collections.abc import Sequence

from recordings.tool_names import PROFILES
from tools.base import Tool, ToolRegistry
from tools.default import default_registry


def profile_registry(profile: str, extra: Sequence[Tool] = ()) -> ToolRegistry:
    """The tools of `profile`, plus `extra` ones (MCP servers' tools)."""
    if profile == "sii-cli":
        from tools.profiles.sii_cli import SII_CLI_TOOLS

        return ToolRegistry([*SII_CLI_TOOLS, *extra])
    if profile != "sii":
        raise ValueError(f"unknown tool profile {profile!r}; known: {', '.join(PROFILES)}")
    return default_registry(extra)


def profile_schemas(profile: str) -> list[dict]:
    """The tools list a model of `profile` is offered (without MCP tools), for the exporter's renaming."""
    return profile_registry(profile).schemas()
