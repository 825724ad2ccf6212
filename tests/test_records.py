"""The recording format is declared once (recordings.records): the writer refuses what it does not declare, the
header names the format's version, validate reports unknown kinds and newer versions, FORMAT.md describes it all."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from recordings.records import FORMAT, FORMAT_VERSION, KINDS, Envelope, RecordKind, shown
from recordings.schema import Message, SessionMeta, ToolCall
from recordings.store import RecordingWriter, iter_records, read_trajectory
from recordings.transcript import render_transcript
from recordings.validate import file_problems
from recordings.viewer_widgets import event_widgets
from sii.recorder import Recorder
from tests.tooling import make_recording, messages, meta

USER: Message = {"role": "user", "content": "fix the test"}
ANSWER: Message = {"role": "assistant", "content": "fixed"}
CALL: ToolCall = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "a.py"}}}


def lines(path: Path) -> list[dict[str, Any]]:
    return [record for record in iter_records(path) if record is not None]


@pytest.mark.parametrize("kind", ["note", "task_result", "Message", "message ", "", "eval2"])
def test_the_writer_refuses_a_kind_the_format_does_not_declare(tmp_path: Path, kind: str) -> None:
    path = make_recording(tmp_path / "s.jsonl", messages(USER))
    before = path.read_bytes()
    writer = RecordingWriter(path)
    with pytest.raises(ValueError, match=r"unknown record kind .*declare it in recordings/records\.py"):
        writer.write(kind, message="x")
    writer.close()
    assert path.read_bytes() == before  # nothing of it reached the file


@pytest.mark.parametrize(
    ("kind", "fields", "wrong"),
    [
        ("message", {"message": USER, "tokens": 3}, "no field.*tokens"),
        ("turn_end", {"reason": "done", "steps": 1, "time": 5.0}, "no field.*time"),  # the writer's own field
        ("label", {"outcome": "success", "note": None, "redacted": {"api_key": 1}}, "no field.*redacted"),
        ("session", {"meta": meta().to_dict(), "tools": [], "type": "message"}, "no field.*type"),
        ("error", {"text": "boom"}, "no field.*text"),
        ("turn_end", {"reason": "done"}, "needs field.*steps"),
        ("eval", {"task": "t"}, "needs field"),
    ],
)
def test_the_writer_refuses_a_field_its_kind_does_not_declare(
    tmp_path: Path, kind: str, fields: dict[str, Any], wrong: str
) -> None:
    writer = RecordingWriter(tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match=wrong):
        writer.write(kind, **fields)
    writer.close()
    assert not (tmp_path / "s.jsonl").exists() or lines(tmp_path / "s.jsonl") == []


def test_a_session_refuses_an_undeclared_record_where_it_is_written_not_when_the_file_starts(tmp_path: Path) -> None:
    """The session's writer holds records until the first message: a refused one must fail at once, not later
    in the middle of writing a conversation message."""
    recorder = Recorder(RecordingWriter(tmp_path / "s.jsonl"), meta("s"))
    recorder.start([], [{"role": "system", "content": "be brief"}])
    for write in (lambda: recorder.writer.write("task", task_id="t"), lambda: recorder.writer.hold("note", n=1)):
        with pytest.raises(ValueError):
            write()
    recorder.writer.message(message=USER)
    recorder.close()
    assert [r["type"] for r in lines(tmp_path / "s.jsonl")] == ["session", "message", "message", "end"]


def test_every_typed_writer_method_writes_a_record_validate_accepts(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = RecordingWriter(path)
    view: list[Message] = [{"role": "system", "content": "be brief"}, USER]
    writer.session(meta("s"), [])
    writer.message(message={"role": "system", "content": "be brief"})
    writer.message(message=USER)
    writer.checkpoint(id="abc", label="fix the test", message_index=1)
    writer.message(message={"role": "assistant", "content": None, "tool_calls": [CALL]}, finish_reason="tool_calls")
    writer.message(message={"role": "tool", "tool_call_id": "c1", "content": "x = 1"}, is_error=False, data={})
    writer.message(message=ANSWER, usage={"prompt_tokens": 10, "completion_tokens": 2})
    writer.turn_end(reason="done", steps=2)
    writer.error("the server hung up")
    writer.compaction(summary="fixed it", messages=view, tokens_before=900)
    writer.system_prompt(view)
    writer.rewind(checkpoint="abc", files=["a.py"], messages=view, undo=False)
    writer.retune(changed=["tools"], workspace="/w", tools=[], messages=view)
    writer.model(model="other")
    writer.resume(face="repl", model="m", base_url="http://x/v1")
    writer.label("success", "good")
    writer.tags(tags=["bugfix"])
    writer.exclude(message_index=1, excluded=False)
    writer.task(
        task_id="t1", pool="p", pool_path="/p.json", source="git", repo=None, commit=None, parent=None, category=None
    )
    writer.comparison(
        task_id="t1",
        reference_files=["a.py"],
        touched_files=["a.py"],
        overlap=["a.py"],
        recall=1.0,
        precision=1.0,
        test_command=None,
        test_exit=None,
        test_output="",
    )
    writer.eval(
        task="t1",
        subtask=1,
        round=1,
        judge="command",
        passed=True,
        score=1.0,
        met=["tests pass"],
        feedback="",
        status="passed",
        reason=None,
        details={},
    )
    writer.end({"ended_at": 2.0, "git_head_end": None})
    writer.close()
    written = {record["type"] for record in lines(path)}
    assert written == set(KINDS) - {"gap"}  # gap: the writer's own, tested with a full disk (test_disk_faults)
    assert file_problems(path) == []
    trajectory = read_trajectory(path)
    assert trajectory.meta.outcome == "success" and trajectory.meta.ended_at == 2.0
    assert len(trajectory.contexts) == 5  # the first view, then compaction, system_prompt, rewind, retune


def test_the_header_names_the_format_and_the_reader_reads_its_version(tmp_path: Path) -> None:
    path = make_recording(tmp_path / "s.jsonl", messages(USER, ANSWER))
    (header, *_) = lines(path)
    assert header["type"] == "session" and header["format"] == FORMAT == f"sii-trajectory/{FORMAT_VERSION}"
    assert read_trajectory(path).format_version == FORMAT_VERSION
    assert file_problems(path) == []


def test_a_caller_cannot_write_another_format_into_the_header(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "s.jsonl")
    writer.write("session", meta=meta("s").to_dict(), tools=[], format="sii-trajectory/9")
    writer.close()
    assert lines(tmp_path / "s.jsonl")[0]["format"] == FORMAT


def version_1_file(path: Path, *extra: dict[str, Any]) -> Path:
    """A recording as sii wrote them before the format had a version: no `format`, meta.schema_version 1."""
    header_meta = {**meta("old").to_dict(), "schema_version": 1, "redacted": True}
    del header_meta["tool_profile"]
    records = [
        {"type": "session", "time": 1.0, "meta": header_meta, "tools": []},
        {"type": "message", "time": 1.1, "message": USER},
        {"type": "message", "time": 1.2, "message": ANSWER, "usage": {"prompt_tokens": 7, "completion_tokens": 1}},
        {"type": "turn_end", "time": 1.3, "reason": "done", "steps": 1},
        *extra,
        {"type": "end", "time": 2.0, "meta": {"ended_at": 2.0, "git_head_end": None}},
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_a_file_without_a_version_reads_as_version_1(tmp_path: Path) -> None:
    path = version_1_file(tmp_path / "old.jsonl", {"type": "label", "outcome": "fail", "note": None})
    trajectory = read_trajectory(path)
    assert trajectory.format_version == 1
    assert [m["content"] for m in trajectory.messages] == ["fix the test", "fixed"]
    assert trajectory.meta.outcome == "fail" and trajectory.meta.ended_at == 2.0 and trajectory.token_count() == 8
    assert file_problems(path) == []


@pytest.mark.parametrize("kind", ["note", "thought", "Message", 7])
def test_validate_reports_a_kind_the_format_does_not_declare(tmp_path: Path, kind: Any) -> None:
    path = version_1_file(tmp_path / "s.jsonl", {"type": kind, "time": 1.4, "text": "hm"})
    found = file_problems(path)
    assert len(found) == 1 and "record 5" in found[0]
    assert ("unknown record kind" in found[0]) == isinstance(kind, str)  # a kind not even a string: a type error
    if isinstance(kind, str):
        trajectory = read_trajectory(path)  # the reader keeps it as an event and reads on
        assert trajectory.events[-1]["type"] == kind and len(trajectory.messages) == 2


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("sii-trajectory/3", "newer than this sii reads"),
        (f"sii-trajectory/{FORMAT_VERSION + 40}", "newer than this sii reads"),
        ("sii-trajectory/x", "is not sii-trajectory/<version>"),
        ("sii-trajectory/02", "is not sii-trajectory/<version>"),
        ("other-format/2", "is not sii-trajectory/<version>"),
        ("sii-trajectory/2 ", "is not sii-trajectory/<version>"),
        ("sii-trajectory/" + "9" * 40, "is not sii-trajectory/<version>"),
    ],
)
def test_validate_reports_a_format_this_sii_does_not_read(tmp_path: Path, declared: str, expected: str) -> None:
    path = make_recording(tmp_path / "s.jsonl", messages(USER, ANSWER))
    records = lines(path)
    records[0]["format"] = declared
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    (finding,) = file_problems(path)
    assert finding.startswith("record 1 ('session')") and expected in finding and FORMAT in finding
    assert len(read_trajectory(path).messages) == 2  # read as far as this sii knows it


@pytest.mark.parametrize("declared", [7, None, ["sii-trajectory/2"], {"v": 2}])
def test_validate_reports_a_format_that_is_not_text(tmp_path: Path, declared: Any) -> None:
    path = make_recording(tmp_path / "s.jsonl", messages(USER, ANSWER))
    records = lines(path)
    records[0]["format"] = declared
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    found = file_problems(path)
    assert any("format" in problem for problem in found)


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### `([a-z_]+)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_format_md_describes_every_declared_kind_and_field() -> None:
    text = (Path(__file__).parent.parent / "recordings" / "FORMAT.md").read_text()
    sections = _sections(text)
    assert set(sections) == set(KINDS)  # every kind, and no kind the code does not declare
    kind: RecordKind
    for kind, declared in KINDS.items():
        for name in declared.fields.__required_keys__ | declared.fields.__optional_keys__:
            assert f"`{name}`" in sections[kind], f"FORMAT.md: {kind}.{name} is not described"
    for name in SessionMeta.__dataclass_fields__:
        assert f"`{name}`" in sections["session"], f"FORMAT.md: session meta.{name} is not described"
    for name in Envelope.__required_keys__ | Envelope.__optional_keys__:
        assert f"| `{name}` |" in text, f"FORMAT.md: the common field {name} is not described"
    restarts = {kind for kind, declared in KINDS.items() if declared.restarts_view}
    named = text.split("## View restarts\n\n", 1)[1].split(" each carry", 1)[0]  # "`compaction`, ... and `retune`"
    assert {kind for kind in KINDS if f"`{kind}`" in named} == restarts
    assert FORMAT in text


def test_the_transcript_shows_the_events_the_format_table_shows(tmp_path: Path) -> None:
    """`sii recordings show` and the viewer take their separators from one table: an eval verdict, an error and a
    model switch read the same in both."""
    records: list[tuple[str, dict[str, Any]]] = [
        *messages(USER),
        ("error", {"message": "the server hung up"}),
        ("model", {"model": "qwen-big"}),
        ("turn_end", {"reason": "step_limit", "steps": 8}),
        ("turn_end", {"reason": "done", "steps": 1}),
        ("checkpoint", {"id": "abc", "label": "fix", "message_index": 0}),
    ]
    path = make_recording(tmp_path / "s.jsonl", records)
    console = Console(width=200, record=True, file=io.StringIO())
    render_transcript(read_trajectory(path), console)
    text = console.export_text()
    for line in ("── error: the server hung up ──", "── switched to model qwen-big ──", "── stopped after 8 steps ──"):
        assert line in text
    for record in lines(path)[1:]:
        widgets = list(event_widgets(record)) if record["type"] != "message" else []
        assert bool(widgets) == (shown(record) is not None)  # done turns and checkpoints: bookkeeping, not shown
    assert "checkpoint" not in text and "── done" not in text
