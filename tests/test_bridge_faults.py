"""The bridge under what SDK clients and AgencyBench's harness really do: a session whose workspace, tools and
prompt change per query (live and resumed), a timeout in the first query, a client that closes stdin early or
mid-query. Driven through the unmodified sii-agent-sdk where it can be, raw JSON lines where the SDK cannot."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recordings.store import read_trajectory
from recordings.validate import problems
from tests import test_bridge
from tests.scripted_server import Reply, ScriptedServer, call
from tests.slow_git import slow_git_add, unanswered
from tests.test_bridge import SLOW_STORY, collect, options
from tests.tooling import wait_for

sdk = pytest.importorskip("sii_agent_sdk")
from sii_agent_sdk import SiiAgentSession, SiiSDKError  # noqa: E402
from sii_agent_sdk.bridge import BridgeProcess  # noqa: E402

from sii.bridge import continued_session_id  # noqa: E402

pytestmark = pytest.mark.timeout(90)
sdk_env = test_bridge.sdk_env  # the fixture: what an SDK user exports, pointed at the scripted server
# Promptly: far under the 30 s the interrupted shell command would take, with room for a machine busy with a
# second test worker (an exit there has taken 0.8 s).
EXIT_WITHIN_S = 3.0


def folders(tmp_path: Path, *names: str) -> list[Path]:
    made = [tmp_path / name for name in names]
    for folder in made:
        folder.mkdir()
    return made


def retunes(recording: Path) -> list[dict[str, Any]]:
    return [event for event in read_trajectory(recording).events if event["type"] == "retune"]


def test_a_live_session_runs_each_query_in_its_own_workspace_tools_and_prompt(
    sdk_env: ScriptedServer, tmp_path: Path
) -> None:
    a, b, c = folders(tmp_path, "a", "b", "c")
    sdk_env.script = [
        Reply(  # the shell is left in a folder of A, with a variable set
            "",
            [
                call("write_file", {"path": "note.txt", "content": "1"}),
                call("run_shell", {"command": "mkdir -p deep && cd deep && export LEFT=in-a"}),
            ],
        ),
        Reply("one"),
        # In B: the shell must not still be in A, and A is outside the file tools' reach now.
        Reply(
            "",
            [
                call("write_file", {"path": "note.txt", "content": "2"}),
                call("run_shell", {"command": 'pwd; echo "left=$LEFT"'}),
                call("write_file", {"path": str(a / "stolen.txt"), "content": "x"}),
            ],
        ),
        Reply("two"),
        Reply("", [call("write_file", {"path": "note.txt", "content": "3"}), call("run_shell", {"command": "pwd"})]),
        Reply("three"),
    ]
    queries = [
        (a, options(a)),
        (b, options(b)),
        (c, options(c, allowed_tools=["write_file", "read_file"], system_prompt="Be terse.")),
    ]

    async def three_queries() -> list[list[dict[str, Any]]]:
        bridge = BridgeProcess(queries[0][1])
        await bridge.start()
        answers: list[list[dict[str, Any]]] = []
        session_id = None
        for _, query_options in queries:
            params: dict[str, Any] = {"prompt": "work", "options": query_options.to_dict()}
            if session_id:
                params["session_id"] = session_id
            await bridge.send_request("query", params)
            answers.append([event async for event in bridge.receive_events()])
            session_id = answers[-1][-1]["metadata"]["session_id"]
        await bridge.close()
        return answers

    first, second, third = asyncio.run(three_queries())
    assert len({run[-1]["metadata"]["session_id"] for run in (first, second, third)}) == 1
    assert [(folder / "note.txt").read_text() for folder in (a, b, c)] == ["1", "2", "3"]
    assert not (a / "stolen.txt").exists()
    results = [event for event in second if event["type"] == "tool_result"]
    assert results[1]["content"].splitlines()[:2] == [str(b.resolve()), "left="]
    assert results[2]["is_error"] and "outside the workspace" in results[2]["content"]
    shell_in_c = [event for event in third if event["type"] == "tool_result"][1]
    assert shell_in_c["is_error"]  # run_shell is not among C's tools
    assert third[0]["available_tools"] == ["write_file", "read_file"]

    systems = [request["messages"][0]["content"] for request in sdk_env.requests]
    assert str(a.resolve()) in systems[0] and str(b.resolve()) in systems[2] and str(a.resolve()) not in systems[2]
    assert str(c.resolve()) in systems[4] and systems[4].endswith("Be terse.")
    assert [tool["function"]["name"] for tool in sdk_env.requests[4]["tools"]] == ["write_file", "read_file"]

    recording = Path(third[-1]["metadata"]["recording"])
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == []
    assert [(r["changed"], r["workspace"]) for r in retunes(recording)] == [
        (["workspace", "system_prompt"], str(b.resolve())),
        (["workspace", "tools", "system_prompt"], str(c.resolve())),
    ]
    assert trajectory.contexts[-1][0]["content"] == systems[4]  # the model's view restarted with C's prompt
    assert [m["content"] for m in trajectory.messages if m["role"] == "user"] == ["work"] * 3


@pytest.mark.parametrize("sandboxed", ["from the start", "from the second query on"])
def test_with_the_sandbox_a_moved_session_cannot_reach_the_old_workspace(
    sdk_env: ScriptedServer, tmp_path: Path, sii_home: Path, sandboxed: str
) -> None:
    """The shell is not confined without the sandbox (the model may `cd` anywhere); with it, the new shell sees
    the new workspace only, so nothing of A is left to reach. A sandbox turned on later applies on the move."""
    sii_home.mkdir(parents=True, exist_ok=True)
    config = sii_home / "config.toml"
    if sandboxed == "from the start":
        config.write_text("[sandbox]\nenabled = true\n")
    a, b = folders(tmp_path, "a", "b")
    (a / "secret.txt").write_text("from a\n")
    sdk_env.script = [
        Reply("", [call("run_shell", {"command": "cat secret.txt"})]),
        Reply("read"),
        Reply("", [call("run_shell", {"command": f"cat {a}/secret.txt; cd {a} && cat secret.txt"})]),
        Reply("tried"),
    ]

    async def two_queries() -> list[dict[str, Any]]:
        bridge = BridgeProcess(options(a))
        await bridge.start()
        await bridge.send_request("query", {"prompt": "read", "options": options(a).to_dict()})
        first = [event async for event in bridge.receive_events()]
        config.write_text("[sandbox]\nenabled = true\n")
        params = {
            "prompt": "read a",
            "options": options(b).to_dict(),
            "session_id": first[-1]["metadata"]["session_id"],
        }
        await bridge.send_request("query", params)
        second = [event async for event in bridge.receive_events()]
        await bridge.close()
        return first + second

    events = asyncio.run(two_queries())
    shell = [event["content"] for event in events if event["type"] == "tool_result"]
    assert "from a" in shell[0] and "from a" not in shell[1]


def test_the_session_a_query_continues_is_named_by_its_id_or_by_the_last_error_in_its_history() -> None:
    error = {"role": "assistant", "content": "[ERROR] late", "metadata": {"error": {"details": {"session_id": "s-2"}}}}
    assert continued_session_id({"session_id": "s-1", "history": [error]}) == "s-1"
    assert continued_session_id({"history": [{"role": "user", "content": "hi"}, error]}) == "s-2"
    older = {**error, "metadata": {"error": {"details": {"session_id": "s-0"}}}}
    assert continued_session_id({"history": [older, {"role": "user", "content": "again"}, error]}) == "s-2"
    forged = {**error, "metadata": {"error": {"details": {"session_id": "../../etc/passwd"}}}}
    for params in (
        {"history": [forged]},
        {"session_id": "../x"},
        {"session_id": 7},
        {"history": "not a list"},
        {"history": [None, "turn", {"metadata": "x"}, {"metadata": {"error": ["x"]}}]},
        {},
    ):
        assert continued_session_id(params) is None, params


def test_a_resumed_session_is_told_its_new_workspace(sdk_env: ScriptedServer, tmp_path: Path) -> None:
    """The SDK starts one bridge per query: the second resumes the recording, in another folder."""
    a, b = folders(tmp_path, "a", "b")
    sdk_env.script = [
        Reply("", [call("write_file", {"path": "here.txt", "content": "a"})]),
        Reply("wrote a"),
        Reply("", [call("write_file", {"path": "here.txt", "content": "b"}), call("run_shell", {"command": "pwd"})]),
        Reply("wrote b"),
    ]
    session = SiiAgentSession(options(a))

    async def two_rounds() -> list[Any]:
        await collect(session.run("write in a"))
        return await collect(session.run("write in b", options=options(b)))

    second = asyncio.run(two_rounds())
    assert (a / "here.txt").read_text() == "a" and (b / "here.txt").read_text() == "b"
    system = sdk_env.requests[2]["messages"][0]["content"]
    assert str(b.resolve()) in system and str(a.resolve()) not in system
    assert str(b.resolve()) in second[-3].content  # run_shell's pwd, in the resumed session's new shell
    recording = Path(second[-1].metadata["recording"])
    (event,) = retunes(recording)
    assert event["workspace"] == str(b.resolve()) and event["messages"][0]["content"] == system
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == [] and trajectory.contexts[-1][0]["content"] == system
    assert len(list(recording.parent.glob("*.jsonl"))) == 1


def test_a_timeout_in_the_first_query_keeps_one_session_and_tells_the_model_why(
    sdk_env: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    sdk_env.script = [Reply("", [call("run_shell", {"command": "sleep 20"})]), Reply("Back again.")]
    session = SiiAgentSession(options(workspace, timeout_ms=1500))

    async def timed_out_then_again() -> list[Any]:
        with pytest.raises(SiiSDKError, match="TIMEOUT"):
            await collect(session.run("sleep a while"))
        return await collect(session.run("go on"))

    second = asyncio.run(timed_out_then_again())
    assert second[-1].metadata["session_id"] == session.session_id
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    assert recording.stem == session.session_id
    told = [m["content"] for m in sdk_env.requests[1]["messages"] if m["role"] == "tool"]
    assert told == ["Stopped before this call finished: the query ran past the client's time limit (timeout_ms=1500)."]
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == []
    assert [m["content"] for m in trajectory.messages if m["role"] == "user"] == ["sleep a while", "go on"]


@pytest.fixture
def raw_bridge(scripted: ScriptedServer, sii_home: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """`python -m sii.bridge` on pipes, against the scripted server; killed at the end if a test left it running."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "SII_OPENAI_BASE_URL": scripted.base_url, "SII_HOME": str(sii_home)}
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        started.append(subprocess.Popen([sys.executable, "-m", "sii.bridge"], env=env, **pipes))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def query_line(request_id: str, workspace: Path, prompt: str = "go", **extra: Any) -> bytes:
    params = {"prompt": prompt, "options": {"cwd": str(workspace), "yolo": True, **extra}}
    return json.dumps({"method": "query", "request_id": request_id, "params": params}).encode() + b"\n"


def events_until_end(bridge: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    assert bridge.stdout is not None
    events = [json.loads(line) for line in bridge.stdout]
    assert bridge.wait(timeout=20) == 0
    return events


def test_a_client_that_closes_stdin_right_after_asking_gets_its_answers(
    scripted: ScriptedServer, workspace: Path, sii_home: Path, raw_bridge: Callable[[], subprocess.Popen[bytes]]
) -> None:
    scripted.script = [Reply("", [call("read_file", {"path": "calc.py"})]), Reply("Read it."), Reply("Second.")]
    bridge = raw_bridge()
    assert bridge.stdin is not None
    bridge.stdin.write(query_line("q1", workspace) + query_line("q2", workspace))
    bridge.stdin.close()
    events = events_until_end(bridge)
    ends = [(e["request_id"], e["type"]) for e in events if e["type"] in ("completed", "error")]
    assert ends == [("q1", "completed"), ("q2", "completed")], events
    assert [e["metadata"]["stop_reason"] for e in events if e["type"] == "completed"] == ["done", "done"]


def close_and_time(bridge: subprocess.Popen[bytes]) -> float:
    assert bridge.stdin is not None
    started = time.monotonic()
    bridge.stdin.close()
    assert bridge.wait(timeout=10) == 0
    return time.monotonic() - started


def read_until(bridge: subprocess.Popen[bytes], kind: str) -> dict[str, Any]:
    assert bridge.stdout is not None
    while (event := json.loads(bridge.stdout.readline()))["type"] != kind:
        pass
    return event


@pytest.mark.parametrize("state", ["idle", "in a tool call", "while the model streams"])
def test_the_bridge_exits_promptly_when_stdin_closes_and_leaves_a_valid_recording(
    scripted: ScriptedServer,
    workspace: Path,
    sii_home: Path,
    state: str,
    raw_bridge: Callable[[], subprocess.Popen[bytes]],
) -> None:
    scripted.script = {
        "idle": [Reply("", [call("run_shell", {"command": "echo started"})]), Reply("Done.")],
        "in a tool call": [Reply("", [call("run_shell", {"command": "sleep 30"}), call("read_file", {"path": "x"})])],
        "while the model streams": [SLOW_STORY],
    }[state]
    bridge = raw_bridge()
    assert bridge.stdin is not None
    bridge.stdin.write(query_line("q", workspace))
    bridge.stdin.flush()
    if state == "idle":
        read_until(bridge, "completed")
    elif state == "in a tool call":
        read_until(bridge, "assistant_message")
        time.sleep(0.5)  # sleep 30 runs in the shell now
    else:
        while not scripted.requests:
            time.sleep(0.05)
        time.sleep(0.3)
    assert close_and_time(bridge) < EXIT_WITHIN_S
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == [] and trajectory.meta.ended_at is not None
    reasons = [e["reason"] for e in trajectory.events if e["type"] == "turn_end"]
    assert reasons == (["done"] if state == "idle" else ["interrupted"])
    if state == "in a tool call":
        told = [m["content"] for m in trajectory.messages if m["role"] == "tool"]
        assert told == ["Stopped before this call finished: the client closed the connection."] * 2


def test_sigterm_mid_query_ends_the_turn_and_the_recording(
    scripted: ScriptedServer, workspace: Path, sii_home: Path, raw_bridge: Callable[[], subprocess.Popen[bytes]]
) -> None:
    scripted.script = [Reply("", [call("run_shell", {"command": "sleep 30"})])]
    bridge = raw_bridge()
    assert bridge.stdin is not None
    bridge.stdin.write(query_line("q", workspace))
    bridge.stdin.flush()
    read_until(bridge, "assistant_message")
    time.sleep(0.5)
    started = time.monotonic()
    bridge.send_signal(signal.SIGTERM)
    assert bridge.wait(timeout=10) == 0 and time.monotonic() - started < EXIT_WITHIN_S
    bridge.stdin.close()
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == [] and trajectory.meta.ended_at is not None
    assert [m["content"] for m in trajectory.messages if m["role"] == "tool"] == [
        "Stopped before this call finished: the bridge was terminated."
    ]


def interrupt_line(request_id: str) -> bytes:
    return json.dumps({"method": "interrupt", "request_id": request_id, "params": {}}).encode() + b"\n"


STOPPED_IN_SNAPSHOT = {
    "interrupt request": ("completed", "Interrupted by the client (an interrupt request) before this call finished."),
    "timeout": (
        "error",
        "Stopped before this call finished: the query ran past the client's time limit (timeout_ms=1500).",
    ),
    "stdin closed": (None, "Stopped before this call finished: the client closed the connection."),
}


@pytest.mark.parametrize("how", list(STOPPED_IN_SNAPSHOT))
def test_a_turn_stopped_inside_the_checkpoint_snapshot_answers_every_call_for_the_client_and_the_model(
    scripted: ScriptedServer,
    workspace: Path,
    sii_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    raw_bridge: Callable[[], subprocess.Popen[bytes]],
    how: str,
) -> None:
    """The turn is stopped while the checkpoint's `git add` runs (a real git, made slow): the client gets a
    tool_result for each tool_use, the model reads why each call did not run, and the recording is valid."""
    marker = slow_git_add(tmp_path / "bin", monkeypatch)
    scripted.script = [
        Reply("", [call("write_file", {"path": "new.txt", "content": "x\n"}), call("read_file", {"path": "calc.py"})]),
        Reply("Going on."),
    ]
    end_kind, told = STOPPED_IN_SNAPSHOT[how]
    bridge = raw_bridge()
    assert bridge.stdin is not None and bridge.stdout is not None
    bridge.stdin.write(query_line("q1", workspace, **({"timeout_ms": 1500} if how == "timeout" else {})))
    bridge.stdin.flush()
    wait_for(marker.exists, timeout=20)
    if how == "stdin closed":
        bridge.stdin.close()
        first = events_until_end(bridge)
    else:
        if how == "interrupt request":
            bridge.stdin.write(interrupt_line("stop"))
            bridge.stdin.flush()
        first = [json.loads(bridge.stdout.readline())]
        while first[-1]["type"] not in ("completed", "error") or first[-1]["request_id"] != "q1":
            first.append(json.loads(bridge.stdout.readline()))
        assert first[-1]["type"] == end_kind, first[-1]
        session_id = next(e["session_id"] for e in first if e.get("status") == "ready")
        params = {"prompt": "go on", "session_id": session_id, "options": {"cwd": str(workspace), "yolo": True}}
        bridge.stdin.write(json.dumps({"method": "query", "request_id": "q2", "params": params}).encode() + b"\n")
        bridge.stdin.flush()
        assert read_until(bridge, "completed")["metadata"]["session_id"] == session_id
        sent = scripted.requests[-1]["messages"]
        assert unanswered(sent) == [] and [m["content"] for m in sent if m["role"] == "tool"] == [told, told]
        bridge.stdin.close()
        assert bridge.wait(timeout=10) == 0
    uses = [b["id"] for e in first if e["type"] == "assistant_message" for b in e["content"] if b["type"] == "tool_use"]
    results = [(e["tool_use_id"], e["content"], e["is_error"]) for e in first if e["type"] == "tool_result"]
    assert len(uses) == 2 and results == [(use, told, True) for use in uses]
    assert not (workspace / "new.txt").exists()
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == [] and unanswered(trajectory.messages) == []
    assert [m["content"] for m in trajectory.messages if m["role"] == "tool"] == [told, told]
