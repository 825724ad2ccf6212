"""The bridge as sii-agent-sdk (from PyPI, unmodified) drives it: `node sii-bridge.js` -> `python -m sii.bridge`,
against the scripted server; plus raw JSON lines for what the SDK never sends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from recordings.store import read_trajectory
from sii.bridge import NODE_ENTRY, history_messages
from tests.scripted_server import Reply, ScriptedServer, call

sdk = pytest.importorskip("sii_agent_sdk")
from sii_agent_sdk import (  # noqa: E402  (after the skip: the SDK is a dev extra)
    AssistantMessage,
    CompletedMessage,
    SiiAgentOptions,
    SiiAgentSession,
    SiiSDKError,
    StatusMessage,
    TextBlock,
    ToolResultMessage,
    ToolUseBlock,
    query,
)
from sii_agent_sdk.bridge import BridgeProcess  # noqa: E402  (the SDK's transport: list_tools and interrupt)

pytestmark = pytest.mark.timeout(90)
SLOW_STORY = Reply("Once upon a time " * 60, delay=0.1)  # ~25 s if nobody stops it


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch, scripted: ScriptedServer) -> ScriptedServer:
    """What an SDK user exports, pointed at the scripted server and at this checkout's bridge."""
    monkeypatch.setenv("SII_BRIDGE_PATH", str(NODE_ENTRY))
    monkeypatch.setenv("SII_PYTHON", sys.executable)
    monkeypatch.setenv("SII_OPENAI_BASE_URL", scripted.base_url)
    monkeypatch.setenv("SII_OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("SII_SDK_ENTRYPOINT", "python-sdk")  # query() sets it in os.environ; restored after the test
    monkeypatch.delenv("SII_OPENAI_MODEL", raising=False)
    return scripted


def options(workspace: Path, **overrides: Any) -> SiiAgentOptions:
    fields = {"auth_type": "USE_OPENAI", "yolo": True, "cwd": str(workspace), "log_events": False, "max_turns": 5}
    return SiiAgentOptions(**{**fields, **overrides})


async def collect(messages: AsyncIterator[Any]) -> list[Any]:
    return [message async for message in messages]


def test_a_query_with_tool_use_streams_sdk_messages_and_is_recorded(sdk_env: ScriptedServer, workspace: Path) -> None:
    edit = {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"}
    sdk_env.script = [Reply("Fixing it.", [call("edit_file", edit)]), Reply("Fixed the sign in add().")]
    prompt_options = options(workspace, system_prompt="Answer in one sentence.")
    messages = asyncio.run(collect(query("fix add", options=prompt_options)))

    assert [type(m) for m in messages] == [
        StatusMessage,
        AssistantMessage,
        ToolResultMessage,
        AssistantMessage,
        CompletedMessage,
    ]
    status, first, result, final, completed = messages
    assert status.status == "ready" and status.auth_type == "USE_OPENAI" and "edit_file" in status.available_tools
    assert first.content == [
        TextBlock(text="Fixing it."),
        ToolUseBlock(id="call_0_edit_file", name="edit_file", input=edit),
    ]
    assert result.tool_use_id == "call_0_edit_file" and not result.is_error and "calc.py" in result.content
    assert final.content == [TextBlock(text="Fixed the sign in add().")]
    metadata = completed.metadata
    assert metadata["turns_used"] == 2 and metadata["tools_used"] == ["edit_file"] and metadata["tokens_used"] > 0
    assert metadata["stop_reason"] == "done" and 0 < metadata["time_elapsed"] < 30_000  # milliseconds
    assert "a + b" in (workspace / "calc.py").read_text()

    system = sdk_env.requests[0]["messages"][0]["content"]
    assert system.startswith("You are sii") and system.endswith("Answer in one sentence.")
    trajectory = read_trajectory(Path(metadata["recording"]))
    assert trajectory.meta.face == "bridge" and trajectory.meta.session_id == metadata["session_id"]
    assert trajectory.meta.ended_at is not None  # the bridge closed the session when the SDK closed stdin
    assert [m["role"] for m in trajectory.messages] == ["system", "user", "assistant", "tool", "assistant"]


def test_a_multi_round_session_keeps_its_history_in_one_recording(sdk_env: ScriptedServer, workspace: Path) -> None:
    sdk_env.script = [Reply("I will remember 41."), Reply("It was 41.")]
    session = SiiAgentSession(options(workspace))

    async def two_rounds() -> tuple[list[Any], list[Any]]:
        return await collect(session.run("remember the number 41")), await collect(session.run("which number?"))

    first, second = asyncio.run(two_rounds())
    assert first[-1].metadata["session_id"] == second[-1].metadata["session_id"] == session.session_id
    assert second[-2].content == [TextBlock(text="It was 41.")]
    sent = [(m["role"], m["content"]) for m in sdk_env.requests[1]["messages"][1:]]
    assert sent == [("user", "remember the number 41"), ("assistant", "I will remember 41."), ("user", "which number?")]

    trajectory = read_trajectory(Path(second[-1].metadata["recording"]))
    assert trajectory.meta.face == "bridge"
    users = [m["content"] for m in trajectory.messages if m["role"] == "user"]
    assert users == ["remember the number 41", "which number?"]
    assert [e["face"] for e in trajectory.events if e["type"] == "resume"] == ["bridge"]


def test_an_interrupt_request_stops_a_slow_reply(sdk_env: ScriptedServer, workspace: Path) -> None:
    sdk_env.script = [SLOW_STORY]
    story_options = options(workspace)

    async def interrupted() -> tuple[list[dict[str, Any]], float]:
        bridge = BridgeProcess(story_options)
        await bridge.start()
        await bridge.send_request("query", {"prompt": "tell me a story", "options": story_options.to_dict()})
        events = bridge.receive_events()
        assert (await anext(events))["status"] == "ready"
        while not sdk_env.requests:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the reply is streaming now
        asked = time.monotonic()
        await bridge.send_request("interrupt", {})
        rest = [event async for event in events]
        waited = time.monotonic() - asked
        await bridge.close()  # raises ProcessError unless the bridge exits 0
        return rest, waited

    rest, waited = asyncio.run(interrupted())
    # What the model had said when it was stopped stays in the conversation, so the client gets it too.
    kinds = [(e["type"], e.get("status")) for e in rest]
    assert kinds == [("status", "interrupting"), ("assistant_message", None), ("completed", None)]
    assert rest[-1]["metadata"]["stop_reason"] == "interrupted" and waited < 5
    trajectory = read_trajectory(Path(rest[-1]["metadata"]["recording"]))
    assert [e["reason"] for e in trajectory.events if e["type"] == "turn_end"] == ["interrupted"]


def test_a_client_that_stops_reading_interrupts_the_turn_and_the_bridge_exits_cleanly(
    sdk_env: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    sdk_env.script = [SLOW_STORY]

    async def stop_early() -> float:
        messages = query("tell me a story", options=options(workspace))
        async for message in messages:
            assert isinstance(message, StatusMessage)
            while not sdk_env.requests:
                await asyncio.sleep(0.05)
            break
        started = time.monotonic()
        await messages.aclose()  # closes the bridge's stdin; a non-zero exit would raise ProcessError here
        return time.monotonic() - started

    assert asyncio.run(stop_early()) < 5  # the SDK kills a bridge still running after 5 s
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    trajectory = read_trajectory(recording)
    assert [e["reason"] for e in trajectory.events if e["type"] == "turn_end"] == ["interrupted"]
    assert trajectory.meta.ended_at is not None


def test_list_tools_gives_the_registry_schemas_filtered_by_allowed_tools(
    sdk_env: ScriptedServer, workspace: Path
) -> None:
    async def listed() -> list[dict[str, Any]]:
        bridge = BridgeProcess(options(workspace))
        await bridge.start()
        answers = []
        for allowed, run_model in ((["read_file", "grep_search", "no_such_tool"], "agent"), ([], "ask"), ([], "agent")):
            params = {"options": options(workspace, allowed_tools=allowed, run_model=run_model).to_dict()}
            await bridge.send_request("list_tools", params)
            answers += [event async for event in bridge.receive_events()]
        await bridge.close()
        return answers

    narrowed, ask, everything = asyncio.run(listed())
    assert narrowed["type"] == "completed" and narrowed["metadata"]["available_tools"] == ["read_file", "grep"]
    assert [tool["function"]["name"] for tool in narrowed["metadata"]["tools"]] == ["read_file", "grep"]
    assert ask["metadata"]["available_tools"] == []
    assert {"run_shell", "edit_file", "git_status"} <= set(everything["metadata"]["available_tools"])


def test_allowed_tools_never_bring_back_a_tool_the_user_config_takes_away(
    sdk_env: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    """The SDK's allowed_tools narrow what sii's settings offer, as --allowed-tools does; neither a tool listing
    nor a later query of the same session (a retune) offers a tool the user's config disallows."""
    sii_home.mkdir(parents=True, exist_ok=True)
    (sii_home / "config.toml").write_text('[tools]\ndisallowed = ["run_shell"]\n')
    sdk_env.script = [Reply("one"), Reply("two"), Reply("three")]

    async def queries() -> list[Any]:
        bridge = BridgeProcess(options(workspace))
        await bridge.start()
        answers, session_id = [], None
        for allowed in (["read_file"], ["read_file", "run_shell"], []):
            params: dict[str, Any] = {"prompt": "work", "options": options(workspace, allowed_tools=allowed).to_dict()}
            if session_id:
                params["session_id"] = session_id
            await bridge.send_request("query", params)
            answers.append([event async for event in bridge.receive_events()])
            session_id = answers[-1][-1]["metadata"]["session_id"]
        for allowed in (["run_shell", "read_file"], []):
            listing = {"options": options(workspace, allowed_tools=allowed).to_dict()}
            await bridge.send_request("list_tools", listing)
            answers += [event async for event in bridge.receive_events()]
        await bridge.close()
        return answers

    *_, narrowed, everything = asyncio.run(queries())
    offered = [[tool["function"]["name"] for tool in request["tools"]] for request in sdk_env.requests]
    assert offered[:2] == [["read_file"], ["read_file"]]
    assert "run_shell" not in offered[2] and {"read_file", "write_file", "edit_file"} <= set(offered[2])
    assert narrowed["metadata"]["available_tools"] == ["read_file"]
    assert "run_shell" not in everything["metadata"]["available_tools"]
    assert "write_file" in everything["metadata"]["available_tools"]


def test_a_model_server_that_is_down_gives_an_error_event(
    sdk_env: ScriptedServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SII_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(SiiSDKError) as raised:
        asyncio.run(collect(query("hi", options=options(workspace))))
    assert type(raised.value) is SiiSDKError  # not ProcessError: the bridge exited 0 after reporting
    assert str(raised.value).startswith("SESSION_ERROR: cannot reach the model server at http://127.0.0.1:9/v1")


def test_raw_json_lines_bad_requests_get_errors_and_the_bridge_goes_on(
    scripted: ScriptedServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SII_OPENAI_BASE_URL", scripted.base_url)
    scripted.script = [SLOW_STORY]
    bridge = subprocess.Popen(
        [sys.executable, "-m", "sii.bridge"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert bridge.stdin is not None and bridge.stdout is not None

    def ask(line: bytes | str | dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(line).encode() if isinstance(line, dict) else line.encode() if isinstance(line, str) else line
        bridge.stdin.write(data + b"\n")
        bridge.stdin.flush()
        return json.loads(bridge.stdout.readline())

    def error_code(line: bytes | str | dict[str, Any]) -> tuple[Any, str]:
        event = ask(line)
        assert event["type"] == "error", event
        return event["request_id"], event["error"]["code"]

    query_of = {"method": "query", "request_id": "q", "protocol_version": "1.0.0"}
    assert error_code("{not json") == (None, "INVALID_REQUEST")
    assert error_code(b"\xff\xfe garbage") == (None, "INVALID_REQUEST")
    assert error_code("[1, 2]") == (None, "INVALID_REQUEST")
    assert error_code({"method": "rm -rf", "request_id": "u"}) == ("u", "UNKNOWN_METHOD")
    assert error_code({**query_of, "protocol_version": "2.0.0"}) == ("q", "UNSUPPORTED_PROTOCOL")
    assert error_code({**query_of, "params": "prompt"}) == ("q", "INVALID_REQUEST")
    assert error_code({**query_of, "params": {"prompt": ""}}) == ("q", "INVALID_REQUEST")
    assert error_code({**query_of, "params": {"prompt": "hi", "options": {"max_turns": "ten"}}}) == (
        "q",
        "INVALID_REQUEST",
    )
    missing = {"prompt": "hi", "options": {"cwd": str(workspace / "missing")}}
    assert error_code({**query_of, "params": missing}) == ("q", "INVALID_REQUEST")
    assert ask({"method": "interrupt", "request_id": "i"})["status"] == "idle"

    slow = {"prompt": "tell me a story", "options": {"cwd": str(workspace), "timeout_ms": 500}}
    assert ask({**query_of, "params": slow})["status"] == "ready"
    timeout = json.loads(bridge.stdout.readline())
    if timeout["type"] == "assistant_message":  # what the model had said before the time ran out is kept
        timeout = json.loads(bridge.stdout.readline())
    assert timeout["error"]["code"] == "TIMEOUT" and timeout["error"]["details"]["timeout_ms"] == 500
    listed = ask({"method": "list_tools", "request_id": "t", "params": {"options": {"allowed_tools": ["glob"]}}})
    assert listed["type"] == "completed" and listed["metadata"]["available_tools"] == ["glob"]

    bridge.stdin.close()
    assert bridge.wait(timeout=10) == 0
    assert b"Traceback" not in (bridge.stderr.read() if bridge.stderr else b"")


def test_sdk_history_becomes_a_well_formed_conversation() -> None:
    """Without a recording to resume, the history the SDK sends (SessionState.to_bridge_history) seeds the session."""
    history = [
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": "Looking."},
        {
            "role": "assistant",
            "content": '[TOOL CALL] glob({"pattern": "*"})',
            "tool_name": "glob",
            "tool_call_id": "c1",
            "metadata": {"input": {"pattern": "*"}},
        },
        {"role": "assistant", "content": "[TOOL CALL] read_file()", "tool_name": "read_file", "tool_call_id": "c2"},
        {"role": "tool", "content": "calc.py", "tool_name": "glob", "tool_call_id": "c1"},
        "not a turn",
    ]
    messages = history_messages(history)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Looking."
    assert [c["function"]["arguments"] for c in messages[1]["tool_calls"]] == [{"pattern": "*"}, {}]
    assert messages[3]["tool_call_id"] == "c2"  # unanswered in the history: answered, so the model accepts it
