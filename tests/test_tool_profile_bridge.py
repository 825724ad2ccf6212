"""The sii-cli tool profile through the SDK bridge: a client asking for SII CLI's tools
(`USE_OPENAI_WITH_SII_TOOLS`, AgencyBench v2's default) is served them, with Gemini CLI's prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recordings.store import read_trajectory
from tests.scripted_server import Reply, ScriptedServer, call

pytest.importorskip("sii_agent_sdk")
from sii_agent_sdk import query

from tests.test_bridge import collect, options, sdk_env  # noqa: F401  (sdk_env: the fixture)


def test_bridge_serves_sii_tools_when_the_client_asks_for_them(
    monkeypatch: pytest.MonkeyPatch,
    sdk_env: ScriptedServer,  # noqa: F811  (the fixture imported above)
    workspace: Path,
) -> None:
    for variable, value in (("SII_USERNAME", "user"), ("SII_PASSWORD", "unused")):  # the SDK checks they are set
        monkeypatch.setenv(variable, value)
    scripted = sdk_env
    scripted.script = [Reply("", [call("run_shell_command", {"command": "echo from-sdk"})]), Reply("done")]
    sdk_options = options(
        workspace, auth_type="USE_OPENAI_WITH_SII_TOOLS", allowed_tools=["run_shell_command", "read_file"]
    )
    messages = asyncio.run(collect(query("run it", options=sdk_options)))
    status, result = messages[0], messages[2]
    assert status.available_tools == ["run_shell_command", "read_file"]  # as the client listed them
    assert result.content.startswith("Command: echo from-sdk\nDirectory: (root)\nStdout: from-sdk\n")
    assert scripted.requests[0]["messages"][0]["content"].startswith("You are an interactive CLI agent")
    assert read_trajectory(Path(messages[-1].metadata["recording"])).meta.tool_profile == "sii-cli"
