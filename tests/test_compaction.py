"""Compaction near the context window: the model's summary replaces the turns, the recording keeps both the
original turns and the view the model actually had, and export gives one sample per context window."""

from __future__ import annotations

from pathlib import Path

from recordings.store import read_trajectory
from sii.config import Settings
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call

BIG = ("x" * 59 + "\n") * 100  # ~1,700 tokens per read (numbered): the second read overflows a 6,000 window


def test_auto_compaction_mid_turn_keeps_both_views(workspace: Path) -> None:
    (workspace / "big.txt").write_text(BIG)
    script = [
        Reply("", [call("read_file", {"path": "big.txt"})]),
        Reply("", [call("read_file", {"path": "big.txt"})]),
        Reply("Summary: read big.txt twice; it holds only x."),  # the compaction request
        Reply("All x."),
    ]
    with ScriptedServer(script, max_model_len=6000) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        settings.sampling["max_tokens"] = 500
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        end = session.agent.run_turn("what is in big.txt?")
        session.close()
    assert (end.reason, end.answer) == ("done", "All x.")
    summary_request, after = server.requests[2], server.requests[3]
    assert (
        "tools" not in summary_request and "Summarise this conversation" in summary_request["messages"][-1]["content"]
    )
    assert [m["role"] for m in after["messages"]] == ["system", "user"]
    assert "read big.txt twice" in after["messages"][1]["content"]
    assert "what is in big.txt?" in after["messages"][1]["content"]  # the request in progress survives

    trajectory = read_trajectory(session.recording_path)
    first, second = trajectory.samples()
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert second["messages"] == [*after["messages"], {"role": "assistant", "content": "All x."}]
    assert len(trajectory.messages) == 7  # the full log: every original turn is kept
    (compaction,) = [e for e in trajectory.events if e["type"] == "compaction"]
    assert compaction["summary"].startswith("Summary:")


def test_manual_compaction_and_resume_use_the_compacted_view(workspace: Path) -> None:
    script = [Reply("Hello."), Reply("We greeted each other."), Reply("Still here.")]
    with ScriptedServer(script) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        session.agent.run_turn("hi")
        session.agent.compact("Keep it short.")
        session.close()
        resumed = Session(settings, face="test", ask=None, notify=lambda text: None, resume=session.recording_path)
        resumed.agent.run_turn("are you there?")
        resumed.close()
    assert "Keep it short." in server.requests[1]["messages"][-1]["content"]
    sent = server.requests[2]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]
    assert "We greeted each other." in sent[1]["content"] and "request in progress" not in sent[1]["content"]
