"""Malformed model replies, each as a real server or model format sends it, over loopback HTTP through the real
session: none may crash the agent, stop the recorder or make `sii recordings validate` fail; each is used as far
as it can be and named where it could not."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recordings.store import RecordingWriter, iter_records, read_trajectory
from recordings.validate import file_problems
from sii.config import Settings
from sii.events import ErrorEvent, Event, ToolResult
from sii.headless import run_headless
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call
from tools.base import Observation, Tool, ToolRegistry
from tools.default import default_registry


def chunk(delta: dict[str, Any] | None = None, finish: Any = None, **fields: Any) -> str:
    """One stream chunk as vLLM writes it; `fields` replace or add top-level fields."""
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return json.dumps({"id": "chatcmpl-x", "object": "chat.completion.chunk", "choices": [choice], **fields})


def completion_body(message: dict[str, Any], **fields: Any) -> bytes:
    """A whole non-streamed completion, as a server that ignores `stream: true` sends it."""
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
    return json.dumps({"object": "chat.completion", "choices": [choice], **fields}).encode()


def stream(*events: str) -> Reply:
    return Reply(events=[*events, "[DONE]"])


class Run:
    """One session on the scripted server: its events, its end, and its recording checked after close."""

    def __init__(self, server: ScriptedServer, workspace: Path) -> None:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        self.session = Session(settings, face="test", ask=None, notify=lambda text: None)
        self.events: list[Event] = []
        self.session.agent.subscribe(self.events.append)

    def turn(self, prompt: str = "go") -> str:
        return self.session.agent.run_turn(prompt).reason

    def close(self) -> Path:
        self.session.close()
        assert file_problems(self.session.recording_path) == []
        return self.session.recording_path

    def results(self) -> list[ToolResult]:
        return [e for e in self.events if isinstance(e, ToolResult)]

    def errors(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, ErrorEvent)]


def run(workspace: Path, *replies: Reply, turns: int = 1) -> tuple[Run, list[str]]:
    with ScriptedServer([*replies]) as server:
        session = Run(server, workspace)
        reasons = [session.turn() for _ in range(turns)]
        session.close()
    return session, reasons


WRITE = {"path": "out.txt", "content": "hi"}


def test_arguments_sent_as_an_object_are_used(workspace: Path) -> None:
    """`function.arguments` as a JSON object (some servers), streamed and in a whole completion."""
    fragment = {"index": 0, "id": "c1", "type": "function", "function": {"name": "write_file", "arguments": WRITE}}
    streamed = stream(chunk({"role": "assistant"}), chunk({"tool_calls": [fragment]}), chunk(finish="tool_calls"))
    whole_call = {
        "id": "c2",
        "type": "function",
        "function": {"name": "write_file", "arguments": {**WRITE, "content": "2"}},
    }
    whole = Reply(
        body=completion_body({"content": None, "tool_calls": [whole_call]}),
        headers={"Content-Type": "application/json"},
    )
    with ScriptedServer([streamed, Reply("one"), whole, Reply("two")]) as server:
        session = Run(server, workspace)
        assert session.turn() == "done"
        assert (workspace / "out.txt").read_text() == "hi"
        assert session.turn() == "done"
        assert (workspace / "out.txt").read_text() == "2"
        path = session.close()
        sent = server.requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(sent) == WRITE  # back on the wire as the string the protocol wants
    recorded = read_trajectory(path).messages[2]["tool_calls"][0]["function"]["arguments"]
    assert recorded == WRITE and not session.errors()


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        # Qwen3-Coder writing a JSON file: the content must stay the text, not become a dict.
        (
            "<tool_call>\n<function=write_file>\n<parameter=path>\ndata.json\n</parameter>\n"
            '<parameter=content>\n{"name": "sii", "n": 1}\n</parameter>\n</function>\n</tool_call>',
            "data.json",
            '{"name": "sii", "n": 1}',
        ),
        # GLM-4.5 writing a number, a boolean, a list and null as file content.
        *(
            (
                f"<tool_call>write_file\n<arg_key>path</arg_key>\n<arg_value>v.txt</arg_value>\n"
                f"<arg_key>content</arg_key>\n<arg_value>{value}</arg_value>\n</tool_call>",
                "v.txt",
                value,
            )
            for value in ("123", "true", "[1, 2]", "null", "1e400")
        ),
    ],
)
def test_text_format_calls_keep_file_content_as_written(workspace: Path, text: str, name: str, expected: str) -> None:
    session, reasons = run(workspace, Reply(text), Reply("ok"))
    assert reasons == ["done"]
    assert (workspace / name).read_text() == expected
    assert not session.results()[0].observation.is_error


@pytest.mark.parametrize("usage", ["12 tokens", [1, 2], {"prompt_tokens": "12"}, {"completion_tokens": -5}, 7])
def test_usage_of_the_wrong_type_is_ignored(workspace: Path, usage: Any) -> None:
    session, reasons = run(
        workspace, stream(chunk({"content": "hello"}, "stop"), json.dumps({"choices": [], "usage": usage}))
    )
    assert reasons == ["done"]
    assert session.session.agent.messages[-1]["content"] == "hello"
    assert isinstance(session.session.agent.prompt_tokens, int)
    assert isinstance(session.session.agent.completion_tokens, int)
    assert any("usage" in error for error in session.errors())


@pytest.mark.parametrize(
    ("content", "text"),
    [(42, "42 apples"), (True, "true apples"), (4.5, "4.5 apples"), ([{"type": "text", "text": "4"}], "4 apples")],
)
def test_a_content_delta_that_is_no_string_keeps_its_text(workspace: Path, content: Any, text: str) -> None:
    session, reasons = run(workspace, stream(chunk({"content": content}), chunk({"content": " apples"}, "stop")))
    assert reasons == ["done"]
    assert session.session.agent.messages[-1]["content"] == text


def test_content_and_reasoning_of_other_types_are_dropped_and_named(workspace: Path) -> None:
    events = [chunk({"content": {"text": "?"}, "reasoning_content": ["x", 1]}), chunk({"content": "kept"}, 9)]
    session, reasons = run(workspace, stream(*events))
    assert reasons == ["done"] and session.session.agent.messages[-1]["content"] == "kept"
    (error,) = session.errors()
    assert "`content` was a JSON object" in error and "finish_reason" in error


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_that_does_not_decode_is_a_clear_error(workspace: Path, encoding: str) -> None:
    broken = Reply(body=b"\x1f\x8b\x08 this is not " + encoding.encode(), headers={"Content-Encoding": encoding})
    session, reasons = run(workspace, broken, Reply("back"), turns=2)
    assert reasons == ["error", "done"]  # the session goes on
    assert "does not decode" in session.errors()[0]


def test_a_compressed_body_that_decodes_is_read(workspace: Path) -> None:
    body = gzip.compress(f"data: {chunk({'content': 'zipped'}, 'stop')}\n\ndata: [DONE]\n\n".encode())
    session, reasons = run(workspace, Reply(body=body, headers={"Content-Encoding": "gzip"}))
    assert reasons == ["done"] and session.session.agent.messages[-1]["content"] == "zipped"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"path": "x.txt", "content": 123}, "argument 'content' must be of type string, got integer 123"),
        ({"path": ["x.txt"], "content": "x"}, "argument 'path' must be of type string, got array"),
        ({"path": "x.txt"}, "missing required argument 'content'"),
        ({"path": "x.txt", "content": "x", "mode": "w"}, "unexpected argument 'mode'"),
        ("[1, 2]", "must be a JSON object, not a JSON array"),
        ("12", "must be a JSON object, not a JSON integer"),
        ('{"path": "x.txt", "content": NaN}', "not valid JSON"),
    ],
)
def test_arguments_that_break_the_schema_get_a_precise_observation(
    workspace: Path, arguments: Any, expected: str
) -> None:
    session, reasons = run(workspace, Reply("", [call("write_file", arguments)]), Reply("ok"))
    assert reasons == ["done"]  # the turn went on to the model's next reply
    (result,) = session.results()
    assert result.observation.is_error and expected in result.observation.text
    assert not (workspace / "x.txt").exists()


def test_schema_errors_name_nested_arguments(ctx: Any) -> None:
    registry = default_registry()
    wrong = registry.dispatch(
        "edit_file", {"path": "calc.py", "old_string": "a", "new_string": "b", "replace_all": "yes"}, ctx
    )
    assert "argument 'replace_all' must be of type boolean, got string \"yes\"" in wrong.text
    assert registry.dispatch("code_map", {"focus": [1]}, ctx).text.count("focus[0]") == 1


def test_wrong_arguments_are_not_put_to_the_user(workspace: Path) -> None:
    """Approval is asked only about a valid call: nobody is asked to approve `content: 123`."""
    asked = []
    with ScriptedServer([Reply("", [call("write_file", {"path": "x", "content": 1})]), Reply("ok")]) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="ask")
        session = Session(settings, face="test", ask=lambda tool, c: asked.append(c) or False, notify=print)
        session.agent.run_turn("go")
        session.close()
    assert asked == [] and "must be of type string" in session.agent.messages[3]["content"]


def test_a_lone_surrogate_in_a_reply_never_stops_the_recording(workspace: Path) -> None:
    events = [chunk({"content": "bad \udc80 byte"}), chunk(finish="stop")]
    assert "\\udc80" in events[0]  # the JSON escape of a lone surrogate
    path_args = '{"path": "s.txt", "content": "\\udcff!"}'
    session, reasons = run(
        workspace, stream(*events), Reply("", [call("write_file", path_args)]), Reply("after"), turns=2
    )
    assert reasons == ["done", "done"]
    messages = read_trajectory(session.session.recording_path).messages
    assert messages == session.session.agent.messages  # recorded exactly, everything after it too
    assert messages[2]["content"] == "bad \ufffd byte" and messages[-1]["content"] == "after"
    assert (workspace / "s.txt").read_text() == "\ufffd!"


def test_undecodable_file_names_in_tool_output_never_stop_the_recording(workspace: Path) -> None:
    (Path(os.fsdecode(bytes(workspace) + b"/bad\xff.txt"))).write_text("x")
    session, reasons = run(workspace, Reply("", [call("list_directory", {})]), Reply("listed"))
    assert reasons == ["done"]
    assert "bad\ufffd.txt" in session.results()[0].observation.text  # what the model, and the server, can take
    recorded = read_trajectory(session.session.recording_path).messages
    assert recorded == session.session.agent.messages and recorded[-1]["content"] == "listed"


def test_the_writer_goes_on_after_unencodable_text(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "r.jsonl", redactor=None)
    writer.write("message", message={"role": "user", "content": "a\udc80b \ud83d\ude00"})
    writer.write("message", message={"role": "user", "content": "next"}, data={"path": tmp_path})
    writer.close()
    records = list(iter_records(tmp_path / "r.jsonl"))
    assert [r["message"]["content"] for r in records] == ["a\ufffdb \U0001f600", "next"]
    assert records[1]["data"] == {"path": str(tmp_path)}


def test_chunks_that_are_not_json_are_skipped_and_named(workspace: Path) -> None:
    events = [chunk({"content": "one "}), "{not json", "[1, 2]", chunk({"content": "two"}, "stop")]
    session, reasons = run(workspace, stream(*events))
    assert reasons == ["done"] and session.session.agent.messages[-1]["content"] == "one two"
    (error,) = session.errors()
    assert "not JSON" in error and "array" in error


def test_a_reply_with_nothing_readable_is_a_server_error(workspace: Path) -> None:
    session, reasons = run(workspace, Reply(body=b"<html>502 Bad Gateway</html>"), Reply("back"), turns=2)
    assert reasons == ["error", "done"]
    assert "not an OpenAI chat completion" in session.errors()[0] and "502" in session.errors()[0]


def test_an_error_inside_the_stream_is_a_server_error(workspace: Path) -> None:
    error = json.dumps({"object": "error", "message": "out of KV cache", "code": 500})
    session, reasons = run(workspace, stream(chunk({"content": "par"}), error), Reply("back"), turns=2)
    assert reasons == ["error", "done"] and "out of KV cache" in session.errors()[0]


@pytest.mark.parametrize(
    "fragments",
    [
        # Ids of the wrong type, missing or repeated; names of the wrong type; no index at all.
        [{"index": 0, "id": ["c"], "function": {"name": "git_status", "arguments": "{}"}}],
        [
            {"index": 0, "id": 7, "function": {"name": "git_status"}},
            {"index": 1, "id": 7, "function": {"name": "git_status"}},
        ],
        [
            {"id": "same", "function": {"name": "git_status", "arguments": "{}"}},
            {"id": "same", "function": {"name": "git_status"}},
        ],
        [{"index": "0", "function": {"name": 5, "arguments": []}}, {"function": {"arguments": "{}"}}],
        [{"index": 0, "function": "git_status"}, "not a call", {"index": [0], "function": {"name": "nope"}}],
    ],
)
def test_tool_calls_with_broken_ids_names_and_indexes_are_all_answered(workspace: Path, fragments: list[Any]) -> None:
    session, reasons = run(workspace, stream(chunk({"tool_calls": fragments}, "tool_calls")), Reply("ok"))
    assert reasons == ["done"]
    calls = session.session.agent.messages[2]["tool_calls"]
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == len(ids) and all(isinstance(i, str) and i for i in ids)
    assert [m["tool_call_id"] for m in session.session.agent.messages[3:-1]] == ids


@pytest.mark.parametrize(
    "reply",
    [
        stream(
            chunk({"tool_calls": [{"index": 0, "function": {"name": "list_directory", "arguments": {"path": "."}}}]})
        ),
        stream(json.dumps({"choices": [{"index": 0, "delta": {"content": 5}}], "usage": "lots"})),
        stream("garbage", chunk({"content": "fine"})),
    ],
)
def test_headless_exit_code_is_not_a_server_error_for_a_malformed_reply(
    workspace: Path, reply: Reply, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScriptedServer([reply, Reply("done")]) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        code = run_headless(settings, "go", output_format="json")
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and result["reason"] == "done"


HOSTILE_RECORDS = [
    {
        "type": "message",
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": ["x"], "function": {"name": "f", "arguments": {}}}],
        },
    },
    {"type": "message", "message": {"role": "assistant", "content": 5, "tool_calls": "calls"}},
    {
        "type": "message",
        "message": {"role": "assistant", "tool_calls": [None, {"function": {"name": 1, "arguments": []}}]},
    },
    {"type": "message", "message": {"role": ["tool"], "tool_call_id": {"a": 1}}},
    {"type": "message", "message": "hello"},
    {"type": "message"},
    {"type": "message", "message": {"role": "user", "content": "x"}, "usage": "lots"},
    {"type": "message", "message": {"role": "user", "content": "x"}, "usage": {"prompt_tokens": "3"}},
    {"type": "compaction", "messages": "all"},
    {"type": "rewind", "messages": [1, 2]},
    {"type": "tags", "tags": [["x"]]},
    {"type": "exclude", "message_index": [3]},
    {"type": "end", "meta": ["x"]},
    {"type": "label", "note": {"n": 1}},
    {"type": "checkpoint", "redacted": ["api_key"]},
    {"type": ["message"]},
    {"type": "session", "meta": {"session_id": 1}},
]


@pytest.mark.parametrize("record", HOSTILE_RECORDS)
def test_validate_reports_hostile_records_instead_of_crashing(tmp_path: Path, record: dict[str, Any]) -> None:
    path = tmp_path / "hostile.jsonl"
    header = {"type": "session", "meta": _meta(), "tools": []}
    path.write_text(json.dumps(header) + "\n" + json.dumps(record) + "\n")
    found = file_problems(path)
    assert found and all(isinstance(problem, str) for problem in found)


def _meta() -> dict[str, Any]:
    return {
        "session_id": "s",
        "sii_version": "0",
        "face": "test",
        "model": "m",
        "base_url": "http://x",
        "sampling": {},
        "workspace": "/w",
        "started_at": 0.0,
    }


def test_validate_command_on_hostile_recordings(sii_home: Path) -> None:
    folder = sii_home / "recordings"
    folder.mkdir(parents=True)
    header = json.dumps({"type": "session", "meta": _meta(), "tools": []})
    for number, record in enumerate(HOSTILE_RECORDS):
        (folder / f"h{number}.jsonl").write_text(header + "\n" + json.dumps(record) + "\n")
    (folder / "empty.jsonl").write_text("")
    (folder / "no-header.jsonl").write_text('[1]\n"x"\n{"type": "label"}\n')
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "validate"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1 and f"{len(HOSTILE_RECORDS) + 2} invalid session(s)" in result.stderr
    assert "record 2 ('message').message.tool_calls[0].id: type" in result.stdout


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "objekt"},  # not a schema: the tool (an MCP server) judges its arguments itself
        {"type": "object", "properties": {"a": {"$ref": "http://example.invalid/s.json"}}},  # never fetched
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}},
    ],
)
def test_a_tool_schema_jsonschema_cannot_apply_leaves_the_call_to_the_tool(ctx: Any, parameters: dict) -> None:
    tool = Tool("remote", "an MCP tool", parameters, lambda arguments, context: Observation(f"ran {arguments}"))
    assert ToolRegistry([tool]).dispatch("remote", {"a": "x"}, ctx).text == "ran {'a': 'x'}"
