"""Session-level options on real parts: MCP servers' tools offered to the model and called through the agent,
and the shell inside a bubblewrap sandbox."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from model_server.bundled import BUNDLED_MODEL_NAME
from model_server.endpoint import EMBEDDED_MAX_TOKENS, resolve_endpoint
from model_server.launcher import ServerInfo, ServerRegistry
from sii.config import Settings, user_config_file
from sii.session import Session, SessionError
from tests.scripted_server import Reply, ScriptedServer, call
from tests.test_mcp import DEMO


def session(server: ScriptedServer, workspace: Path, **options) -> Session:
    settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
    for key, value in options.items():
        setattr(settings, key, value)
    return Session(settings, face="test", ask=None, notify=lambda text: None)


def test_mcp_tools_reach_the_model_and_run(workspace: Path) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text(f'[[mcp_servers]]\nname = "demo"\ncommand = "{sys.executable}"\nargs = ["{DEMO}"]\n')
    with ScriptedServer([Reply("", [call("mcp__demo__add", {"a": 2, "b": 40})]), Reply("42.")]) as server:
        live = session(server, workspace)
        live.agent.run_turn("add 2 and 40 with the demo server")
        live.close()
    offered = {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert {"mcp__demo__add", "read_file"} <= offered
    assert live.agent.messages[3] == {"role": "tool", "tool_call_id": "call_0_mcp__demo__add", "content": "42"}


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def writable_outside_tmp() -> Path:
    """A folder we may write to that is not under /tmp (which the sandbox leaves writable)."""
    for candidate in (Path.home(), Path("/var/tmp"), Path.cwd()):
        resolved = candidate.resolve()
        if not resolved.is_relative_to("/tmp") and os.access(resolved, os.W_OK):
            return resolved
    pytest.skip("no writable folder outside /tmp to probe the sandbox with")


@needs_bwrap
def test_sandboxed_shell_writes_only_the_workspace(workspace: Path) -> None:
    outside = writable_outside_tmp() / f".sii-sandbox-probe-{workspace.parent.name}"
    script = [
        Reply("", [call("run_shell", {"command": f"echo in > inside.txt; echo out > {outside}; echo done"})]),
        Reply("ok"),
    ]
    with ScriptedServer(script) as server:
        live = session(server, workspace, sandbox=True)
        live.agent.run_turn("write two files")
        live.close()
    escaped = outside.exists()
    outside.unlink(missing_ok=True)
    assert (workspace / "inside.txt").read_text() == "in\n"
    assert not escaped
    refused = live.agent.messages[3]["content"]
    assert "No such file or directory" in refused or "Read-only file system" in refused  # the home is not writable


def test_asking_for_a_sandbox_without_bubblewrap_is_a_clear_error(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    with ScriptedServer() as server, pytest.raises(SessionError, match="needs bubblewrap"):
        session(server, workspace, sandbox=True)


def test_the_endpoint_is_resolved_before_the_session_and_the_embedded_one_is_capped(
    scripted: ScriptedServer, workspace: Path
) -> None:
    """A named server is used as it is; without one, the embedded server registered as running (here the scripted
    server stands in for vLLM) is found, told, and its replies capped. A session without a server refuses to
    start rather than guess."""
    settings = Settings.resolve(base_url=scripted.base_url, workspace=workspace)
    notes: list[str] = []
    before = dict(settings.sampling)
    assert resolve_endpoint(settings, notes.append) == scripted.base_url
    assert settings.sampling == before and notes == []

    settings = Settings.resolve(workspace=workspace)
    assert settings.base_url is None
    with pytest.raises(SessionError, match="no model server"):
        Session(settings, face="test", ask=None, notify=notes.append)
    port = int(scripted.base_url.rsplit(":", 1)[1].split("/")[0])
    ServerRegistry(settings.home / "server").remember(ServerInfo(os.getpid(), port, BUNDLED_MODEL_NAME, "", ""))
    assert resolve_endpoint(settings, notes.append) == f"http://127.0.0.1:{port}/v1"
    assert notes == [f"Using the embedded model server at http://127.0.0.1:{port}/v1"]
    assert settings.sampling["max_tokens"] == EMBEDDED_MAX_TOKENS
    scripted.script = [Reply("Small.")]
    embedded = Session(settings, face="test", ask=None, notify=notes.append)
    assert embedded.run_turn("hi").answer == "Small."
    embedded.close()
    assert scripted.requests[-1]["max_tokens"] <= EMBEDDED_MAX_TOKENS
