"""The agent loop against the scripted server: deterministic multi-step sessions on real tools and a real
git repository, recorded, and read back exactly as the model was sent them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from recordings.store import read_trajectory
from sii.agent import INTERRUPTED, Agent
from sii.approval import Answer, ApprovalPolicy
from sii.client import ModelClient, ModelError, to_wire
from sii.config import Settings
from sii.events import AssistantMessage, ErrorEvent, Event, TextDelta, ToolCallStarted, ToolResult, TurnEnd, UserMessage
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call
from tests.slow_git import SLOW_ADD_S, interrupt_when, slow_git_add, unanswered
from tools import ToolContext
from tools.default import default_registry

FIX_SESSION = [
    Reply("Let me look.", [call("read_file", {"path": "calc.py"})], reasoning="The bug is probably in add."),
    Reply("", [call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})]),
    Reply("", [call("run_shell", {"command": "python3 -c 'import calc; print(calc.add(2, 3))'"})]),
    Reply("", [call("grep", {"pattern": "return", "glob": "*.py"}), call("git_status", {})]),
    Reply("Fixed: `add` now returns a + b (2 + 3 = 5)."),
]


def start_session(server: ScriptedServer, workspace: Path, **overrides) -> tuple[Session, list[Event]]:
    settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo", **overrides)
    session = Session(settings, face="test", ask=None, notify=lambda text: None)
    events: list[Event] = []
    session.agent.subscribe(events.append)
    return session, events


def test_multi_step_session_fixes_a_bug_and_records_it(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = list(FIX_SESSION)
    session, events = start_session(scripted, workspace)
    end = session.agent.run_turn("add() is broken, fix it")
    session.label("success", note="fixed on the first try")
    session.close()

    assert end.reason == "done" and end.steps == 5
    assert (workspace / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [r.call["function"]["name"] for r in results] == [
        "read_file",
        "edit_file",
        "run_shell",
        "grep",
        "git_status",
    ]
    assert not any(r.observation.is_error for r in results)
    assert results[2].observation.text.startswith("5\n")
    assert " M calc.py" in results[4].observation.text
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).startswith("Let me look.")

    trajectory = read_trajectory(session.recording_path)
    # The recording holds exactly the conversation, and the last request sent exactly that (wire form).
    assert trajectory.messages == session.agent.messages
    last_request = scripted.requests[-1]
    assert last_request["messages"] == to_wire(trajectory.messages[:-1])
    assert trajectory.tools == last_request["tools"]
    assert trajectory.messages[2]["reasoning"] == "The bug is probably in add."
    first_call = trajectory.messages[2]["tool_calls"][0]
    assert first_call["function"]["arguments"] == {"path": "calc.py"}  # an object, not a string
    assert [m["role"] for m in trajectory.messages].count("tool") == 5
    assert trajectory.meta.outcome == "success" and trajectory.meta.model == "scripted-model"
    assert trajectory.meta.notes == ["fixed on the first try"]
    assert trajectory.meta.git_head_start == trajectory.meta.git_head_end is not None
    assert trajectory.meta.sampling == last_request_sampling(last_request)
    (sample,) = trajectory.samples()
    assert set(sample) == {"messages", "tools"}
    json.dumps(sample)  # serialisable as one JSONL line


def last_request_sampling(request: dict) -> dict:
    return {key: request[key] for key in ("temperature", "max_tokens")}


def test_broken_arguments_and_unknown_tools_become_observations(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [
        Reply("", [call("read_file", '{"path": "calc.py"')]),
        Reply("", [call("launch_rockets", {})]),
        Reply("", [call("read_file", {"path": "calc.py"})]),
        Reply("ok"),
    ]
    session, events = start_session(scripted, workspace)
    end = session.agent.run_turn("read calc.py")
    session.close()
    results = [e.observation for e in events if isinstance(e, ToolResult)]
    assert end.reason == "done"
    assert results[0].is_error and "not valid JSON" in results[0].text
    assert results[1].is_error and "unknown tool" in results[1].text
    assert not results[2].is_error
    recorded = read_trajectory(session.recording_path).messages
    assert recorded[2]["tool_calls"][0]["function"]["arguments"] == '{"path": "calc.py"'  # kept verbatim
    assert scripted.requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"path": "calc.py"'


def test_step_limit_ends_the_turn_with_every_call_answered(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [Reply("", [call("git_status", {})]) for _ in range(5)]
    session, _ = start_session(scripted, workspace, max_steps=3)
    end = session.agent.run_turn("loop forever")
    session.close()
    assert (end.reason, end.steps, end.answer) == ("step_limit", 3, "")
    roles = [m["role"] for m in session.agent.messages]
    assert roles == ["system", "user"] + ["assistant", "tool"] * 3
    events = read_trajectory(session.recording_path).events
    assert {"reason": "step_limit", "steps": 3}.items() <= next(e for e in events if e["type"] == "turn_end").items()


def test_declined_calls_are_answered_not_run(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [Reply("", [call("write_file", {"path": "x.txt", "content": "x"})]), Reply("ok")]
    client = ModelClient(scripted.base_url)
    refuse = ApprovalPolicy(mode="ask", ask=lambda question: Answer(allow=False, go_on=True)).check
    agent = Agent(client, default_registry(), ToolContext(workspace), "sys", {}, approve=refuse)
    events: list[Event] = []
    agent.subscribe(events.append)
    agent.run_turn("write x")
    assert not (workspace / "x.txt").exists()
    assert any(isinstance(e, ToolCallStarted) for e in events)
    assert "declined" in agent.messages[3]["content"]


def test_a_refusal_with_a_reason_stops_the_turn_and_tells_the_model_why(
    scripted: ScriptedServer, workspace: Path
) -> None:
    scripted.script = [
        Reply(
            "",
            [
                call("write_file", {"path": "x.txt", "content": "x"}),
                call("write_file", {"path": "y.txt", "content": "y"}),
            ],
        ),
        Reply("should not be asked for"),
    ]
    client = ModelClient(scripted.base_url)
    refuse = ApprovalPolicy(mode="ask", ask=lambda question: Answer(allow=False, reason="use notes/ instead")).check
    agent = Agent(client, default_registry(), ToolContext(workspace), "sys", {}, approve=refuse)
    end = agent.run_turn("write x and y")
    assert end.reason == "declined" and len(scripted.requests) == 1, "the turn must stop at the refusal"
    first, second = agent.messages[3], agent.messages[4]
    assert "declined this call: use notes/ instead" in first["content"]
    assert "stopped the turn" in second["content"] and second["tool_call_id"] != first["tool_call_id"]
    assert not (workspace / "x.txt").exists() and not (workspace / "y.txt").exists()


def test_server_that_goes_away_ends_the_turn_with_a_clear_error(workspace: Path) -> None:
    server = ScriptedServer([Reply("hello")])
    with server:
        session, events = start_session(server, workspace)
        assert session.agent.run_turn("hi").reason == "done"
    end = session.agent.run_turn("still there?")  # the server is gone now
    session.close()
    assert end.reason == "error"
    errors = [e for e in events if type(e).__name__ == "ErrorEvent"]
    assert "cannot reach the model server" in errors[0].message
    assert read_trajectory(session.recording_path).messages[-1] == {"role": "user", "content": "still there?"}


def test_the_session_goes_on_when_the_server_comes_back(workspace: Path) -> None:
    first = ScriptedServer([Reply("one")])
    with first:
        session, _ = start_session(first, workspace)
        session.agent.run_turn("hi")
    assert session.agent.run_turn("anyone?").reason == "error"
    port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])
    with ScriptedServer([Reply("back again")], port=port) as second:
        assert session.agent.run_turn("and now?").reason == "done"
    session.close()
    assert session.agent.messages[-1]["content"] == "back again"
    assert [m["role"] for m in second.requests[0]["messages"]] == ["system", "user", "assistant", "user", "user"]


def test_client_reads_the_context_window_and_refuses_a_dead_server(scripted: ScriptedServer) -> None:
    client = ModelClient(scripted.base_url)
    assert client.model == "scripted-model"
    assert client.context_window == 32768
    with pytest.raises(ModelError, match="cannot reach"):
        ModelClient("http://127.0.0.1:9/v1").list_models()


def test_an_unusable_summary_leaves_the_conversation_and_the_turn_goes_on(workspace: Path) -> None:
    """A compaction answered with an unusable reply (here: content that is a JSON object) is said, the
    conversation stays whole, and the request it was made for is still sent."""
    (workspace / "big.txt").write_text(("x" * 59 + "\n") * 100)
    unusable = Reply(events=[json.dumps({"choices": [{"index": 0, "delta": {"content": {"summary": 1}}}]}), "[DONE]"])
    script = [Reply("", [call("read_file", {"path": "big.txt"})]), Reply("", [call("read_file", {"path": "big.txt"})])]
    with ScriptedServer([*script, unusable, Reply("All x.")], max_model_len=6000) as server:
        session, events = start_session(server, workspace)
        session.agent.sampling["max_tokens"] = 500
        end = session.agent.run_turn("what is in big.txt?")
        session.close()
    assert end.reason == "done" and session.agent.messages[-1]["content"] == "All x."
    assert [m["role"] for m in server.requests[3]["messages"]] == ["system", "user", *["assistant", "tool"] * 2]
    errors = [e.message for e in events if type(e).__name__ == "ErrorEvent"]
    assert errors == ["the model returned an empty summary; the conversation was not compacted"]


WRITE_THEN_READ = Reply(
    "", [call("write_file", {"path": "new.txt", "content": "x\n"}), call("read_file", {"path": "calc.py"})]
)


def run_uninterrupted(session: Session, text: str) -> TurnEnd:
    """The turn, failing the test (not ending the test run) if an interrupt escapes it."""
    try:
        return session.run_turn(text)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped run_turn")


def assert_well_formed_after(session: Session, scripted: ScriptedServer, events: list[Event]) -> None:
    """Every call answered, in the conversation, the recording, the events, and the next request the model gets."""
    assert unanswered(session.agent.messages) == []
    started = [e.call["id"] for e in events if isinstance(e, ToolCallStarted)]
    assert [e.call["id"] for e in events if isinstance(e, ToolResult)][: len(started)] == started
    scripted.script = [Reply("Going on.")]
    assert run_uninterrupted(session, "go on").reason == "done"
    sent = scripted.requests[-1]["messages"]
    assert unanswered(sent) == [] and sent[-1] == {"role": "user", "content": "go on"}
    session.close()
    assert read_trajectory(session.recording_path).messages == session.agent.messages


def test_an_interrupt_inside_the_checkpoint_snapshot_ends_the_turn_with_every_call_answered(
    scripted: ScriptedServer, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the checkpoint's `git add` runs (a real SIGINT, a real git): the call it came before is
    interrupted, not run, and so is the one after; the turn ends, it does not raise."""
    interrupt_when(slow_git_add(tmp_path / "bin", monkeypatch))
    scripted.script = [WRITE_THEN_READ]
    session, events = start_session(scripted, workspace)
    started = time.monotonic()
    end = run_uninterrupted(session, "write it")
    assert end.reason == "interrupted" and time.monotonic() - started < SLOW_ADD_S
    assert not (workspace / "new.txt").exists()
    tool_messages = [m for m in session.agent.messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [INTERRUPTED, INTERRUPTED]
    assert isinstance(events[-1], TurnEnd) and events[-1] == end
    assert session.turn_checkpoints == []
    assert_well_formed_after(session, scripted, events)


@pytest.mark.parametrize("kind", [UserMessage, AssistantMessage, ToolCallStarted, ToolResult])
@pytest.mark.parametrize("again", [False, True], ids=["once", "then-on-every-event"])
def test_an_interrupt_inside_a_listener_ends_the_turn_with_every_call_answered(
    scripted: ScriptedServer, workspace: Path, kind: type, again: bool
) -> None:
    """A Ctrl-C landing in any face's listener, at any event; `again`: the listener goes on raising on every event
    after it (keys mashed while the turn closes), and the turn still ends with every call answered."""
    scripted.script = [WRITE_THEN_READ, Reply("written.")]
    session, events = start_session(scripted, workspace)
    hit: list[Event] = []
    armed = [True]  # for the interrupted turn only

    def impatient(event: Event) -> None:
        if armed[0] and (isinstance(event, kind) or (hit and again)):
            hit.append(event)
            raise KeyboardInterrupt

    session.subscribe(impatient)
    end = run_uninterrupted(session, "write it")
    assert end.reason == "interrupted"
    assert isinstance(events[-1], TurnEnd) and events[-1].reason == end.reason
    armed[0] = False
    assert_well_formed_after(session, scripted, events)


def test_a_failing_listener_is_reported_once_and_the_turn_goes_on(scripted: ScriptedServer, workspace: Path) -> None:
    """A listener that raises on every event, its own error report included: one error event, the other listeners
    and the recording see everything, the calls run."""
    scripted.script = [WRITE_THEN_READ, Reply("written.")]
    session, events = start_session(scripted, workspace)

    def broken(event: Event) -> None:
        raise RuntimeError("renderer bug")

    session.agent.subscribe(broken)
    end = run_uninterrupted(session, "write it")
    assert (end.reason, end.answer) == ("done", "written.")
    assert (workspace / "new.txt").read_text() == "x\n"
    errors = [e.message for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and "broken" in errors[0] and "renderer bug" in errors[0]
    session.close()
    trajectory = read_trajectory(session.recording_path)
    assert trajectory.messages == session.agent.messages
    assert [e["message"] for e in trajectory.events if e["type"] == "error"] == errors
