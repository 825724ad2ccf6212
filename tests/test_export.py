"""Export to JSONL/Parquet/ShareGPT with filters, dedupe and a manifest; import back; round trips."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recordings import export_commands
from recordings.cli import Places
from recordings.export import Selection, export
from recordings.formats import from_sharegpt, to_sharegpt
from recordings.importer import import_file
from recordings.store import read_trajectory
from tests.tooling import make_recording, messages

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_shell",
            "description": "Run a command.",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        },
    },
]


def call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def task(prompt: str, path: str = "calc.py") -> list[dict[str, Any]]:
    """A realistic turn: reasoning, parallel calls, a failing command, a fix, a final answer."""
    return [
        {"role": "user", "content": prompt},
        {
            "role": "assistant",
            "content": None,
            "reasoning": "Look at the code and the tests first.",
            "tool_calls": [
                call("c1", "read_file", {"path": path}),
                call("c2", "run_shell", {"command": "pytest -q"}),
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "read_file", "content": "def add(a, b):\n    return a - b\n"},
        {"role": "tool", "tool_call_id": "c2", "name": "run_shell", "content": "F\n1 failed" + " log" * 500},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "add subtracts.",
            "tool_calls": [call("c3", "run_shell", {"command": "sed -i s/-/+/ calc.py && pytest -q"})],
        },
        {"role": "tool", "tool_call_id": "c3", "name": "run_shell", "content": "1 passed"},
        {"role": "assistant", "content": f"Fixed `add` in {path}: it subtracted. Tests pass ✓"},
    ]


def record(
    directory: Path,
    session_id: str,
    prompt: str = "fix the failing test",
    outcome: str | None = "success",
    model: str = "qwen3-8b",
    compaction: bool = False,
) -> Path:
    """A session written as sii writes one; with `compaction`, a second context starts from a summary."""
    system = {"role": "system", "content": "You are sii, a coding agent."}
    turn_end = ("turn_end", {"reason": "done", "steps": 3})
    records = [*messages(system, *task(prompt)), turn_end]
    if compaction:
        summary = [system, {"role": "user", "content": "Summary: add() was fixed in calc.py."}]
        records += [("compaction", {"summary": "add() fixed", "messages": summary, "tokens_before": 9000})]
        records += [*messages(*task("now check util.py too", "util.py")), turn_end]
    if outcome:
        records += [("label", {"outcome": outcome, "note": "checked by hand"})]
    records += [("end", {"meta": {"ended_at": 2.0}})]
    return make_recording(directory / f"{session_id}.jsonl", records, tools=TOOLS, face="repl", model=model)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    directory = tmp_path / "recordings"
    directory.mkdir()
    record(directory, "20260101-000001-aaaaaa", compaction=True)
    record(directory, "20260101-000002-bbbbbb", "make the build faster", outcome="fail", model="other")
    record(directory, "20260101-000003-cccccc", "add a --json flag", outcome=None)
    return directory


def run(directory: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.set_defaults(places=lambda: Places(directory.parent, directory.parent / "cache", directory))
    export_commands.register(parser.add_subparsers(dest="action", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def refused(directory: Path, *argv: str) -> str:
    """The one line on stderr of a command that exits 2 (recordings.cli's convention)."""
    err = io.StringIO()
    with redirect_stderr(err):
        assert run(directory, *argv) == 2
    (line,) = err.getvalue().splitlines()
    return line


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compaction_gives_two_samples_each_what_the_model_saw(recordings: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    export(recordings, "jsonl", out, Selection(), ["20260101-000001"])
    first, second = lines(out)
    assert first == {"messages": [first["messages"][0], *task("fix the failing test")], "tools": TOOLS}
    assert second["messages"][1]["content"].startswith("Summary:")
    assert second["messages"][2:] == task("now check util.py too", "util.py")
    assert first["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"path": "calc.py"}  # an object


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "sharegpt"])
def test_export_import_export_is_identical(recordings: Path, tmp_path: Path, fmt: str) -> None:
    first, second = tmp_path / f"first.{fmt}", tmp_path / f"second.{fmt}"
    export(recordings, fmt, first, Selection())
    imported = tmp_path / "imported"
    assert len(import_file(first, imported).session_ids) == 4
    export(imported, fmt, second, Selection())
    if fmt == "parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        columns = ["messages", "tools", "model", "label"]  # session ids are new ones; notes keep the old
        assert pq.read_table(second, columns=columns).equals(pq.read_table(first, columns=columns))
        assert pq.read_table(first).column("label").to_pylist() == ["success", "success", "fail", None]
    else:
        assert second.read_bytes() == first.read_bytes()
    if fmt != "sharegpt":  # the samples themselves, ids and reasoning included, came back exactly
        originals = [s for p in sorted(recordings.glob("*.jsonl")) for s in read_trajectory(p).samples()]
        copies = [read_trajectory(p).samples()[0] for p in sorted(imported.glob("*.jsonl"))]
        assert copies == originals


def test_importing_the_same_file_twice_changes_nothing(recordings: Path, tmp_path: Path) -> None:
    out, imported = tmp_path / "out.jsonl", tmp_path / "imported"
    export(recordings, "jsonl", out, Selection())
    import_file(out, imported)
    again = import_file(out, imported)
    assert again.session_ids == [] and again.already_there == 4
    meta = read_trajectory(sorted(imported.glob("*.jsonl"))[0]).meta
    assert (meta.face, meta.model, meta.outcome) == ("import", "unknown", "success")
    assert meta.notes == [f"imported from {out} (record 0)"]


def test_sharegpt_carries_calls_results_and_reasoning(recordings: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.sharegpt"
    export(recordings, "sharegpt", out, Selection(), ["20260101-000002"])
    (row,) = lines(out)
    assert row["system"] == "You are sii, a coding agent."
    assert json.loads(row["tools"]) == TOOLS
    kinds = [turn["from"] for turn in row["conversations"]]
    assert kinds == ["human", "function_call", "observation", "function_call", "observation", "gpt"]
    think, calls = row["conversations"][1]["value"].split("</think>\n")
    assert think == "<think>Look at the code and the tests first."
    assert json.loads(calls) == [
        {"name": "read_file", "arguments": {"path": "calc.py"}},
        {"name": "run_shell", "arguments": {"command": "pytest -q"}},
    ]
    assert json.loads(row["conversations"][2]["value"])[0].startswith("def add")  # two results, one turn
    assert row["conversations"][4]["value"] == "1 passed"
    back = from_sharegpt(row)["messages"]
    original = read_trajectory(recordings / "20260101-000002-bbbbbb.jsonl").messages
    # What ShareGPT cannot carry: call ids (regenerated), tool names on results, "" vs null content.
    assert [m["tool_call_id"] for m in back if m["role"] == "tool"] == ["call_1_0", "call_1_1", "call_3_0"]
    assert [m.get("reasoning") for m in back] == [m.get("reasoning") for m in original]
    assert [m["content"] for m in back if m["role"] == "tool"] == [
        m["content"] for m in original if m["role"] == "tool"
    ]
    assert [c["function"] for m in back for c in m.get("tool_calls", [])] == [
        c["function"] for m in original for c in m.get("tool_calls", [])
    ]


def test_text_beside_tool_calls_becomes_reasoning_in_sharegpt() -> None:
    sample = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [call("x", "read_file", '{"path": "a"}')]},
            {"role": "tool", "tool_call_id": "x", "content": "A"},
            {"role": "assistant", "content": "done", "reasoning": "easy"},
        ],
        "tools": [],
    }
    record = to_sharegpt(sample)
    assert (
        record["conversations"][1]["value"]
        == '<think>Let me look.</think>\n{"name": "read_file", "arguments": {"path": "a"}}'
    )
    assert record["conversations"][3]["value"] == "<think>easy</think>\ndone"
    back = from_sharegpt(record)
    assert back["messages"][1] == {
        "role": "assistant",
        "content": None,
        "reasoning": "Let me look.",
        "tool_calls": [call("call_1_0", "read_file", {"path": "a"})],  # the JSON string is parsed
    }
    assert to_sharegpt(back) == record


LIMI = [
    {
        "messages": [
            {"role": "system", "content": "You are a helpful agent."},
            {"role": "user", "content": "List the repo and open README."},
            {
                "role": "assistant",
                "content": "I'll list the files.",
                "tool_calls": [call("call_0", "run_shell", {"command": "ls"})],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": "README.md\nsrc\n"},
            {"role": "assistant", "content": None, "tool_calls": [call("call_1", "read_file", {"path": "README.md"})]},
            {"role": "tool", "tool_call_id": "call_1", "content": "# Project\n"},
            {"role": "assistant", "content": "The README is a title only."},
        ],
        "tools": TOOLS,
    },
    {
        "messages": [{"role": "user", "content": "什么是 2+2?"}, {"role": "assistant", "content": "4"}],
        "tools": [],
    },
]


def test_a_limi_file_imports_and_exports_back_identical(tmp_path: Path) -> None:
    source = tmp_path / "limi.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in LIMI), encoding="utf-8")
    imported, out = tmp_path / "imported", tmp_path / "out.jsonl"
    assert run(imported, "import", str(source)) == 0
    assert run(imported, "export", "--out", str(out), "--label", "success") == 0
    assert out.read_bytes() == source.read_bytes()


def test_string_arguments_are_parsed_on_import(tmp_path: Path) -> None:
    stringly = json.loads(json.dumps(LIMI[0]))
    for message in stringly["messages"]:
        for tool_call in message.get("tool_calls", []):
            tool_call["function"]["arguments"] = json.dumps(tool_call["function"]["arguments"])
    source, imported = tmp_path / "s.jsonl", tmp_path / "imported"
    source.write_text(json.dumps(stringly) + "\n")
    import_file(source, imported)
    (path,) = imported.glob("*.jsonl")
    assert read_trajectory(path).samples() == [LIMI[0]]


def test_filters_by_label_model_and_id(recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    def exported(*argv: str) -> list[str]:
        assert run(recordings, "export", *argv) == 0
        return [row["messages"][1]["content"] for row in map(json.loads, capsys.readouterr().out.splitlines())]

    assert exported() == [
        "fix the failing test",
        "Summary: add() was fixed in calc.py.",
        "make the build faster",
        "add a --json flag",
    ]
    assert exported("--label", "success") == ["fix the failing test", "Summary: add() was fixed in calc.py."]
    assert exported("--label", "fail") == ["make the build faster"]
    assert exported("--label", "none") == ["add a --json flag"]
    assert exported("--model", "other", "--model", "nope") == ["make the build faster"]
    assert exported("20260101-000003", "20260101-000002") == ["add a --json flag", "make the build faster"]


def test_duplicates_and_near_duplicates_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    directory = tmp_path / "recordings"
    record(directory, "20260101-000001-aaaaaa")
    record(directory, "20260101-000002-bbbbbb")  # the same session again
    near = record(directory, "20260101-000003-cccccc")
    text = near.read_text().replace("Tests pass ✓", "All green.")  # other words, same calls
    near.write_text(text)
    out = tmp_path / "out.jsonl"
    assert run(directory, "export", "--out", str(out)) == 0
    assert "exported 1 samples from 3 sessions" in capsys.readouterr().err
    assert run(directory, "export", "--out", str(out), "--no-dedupe") == 0
    assert len(lines(out)) == 3
    run(directory, "export", "--out", str(out))
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["counts"]["duplicates"] == 1 and manifest["counts"]["near_duplicates"] == 1
    (entry,) = manifest["samples"]
    assert entry["session_id"] == "20260101-000001-aaaaaa" and entry["context"] == 0
    assert entry["messages"] == 8 and entry["label"] == "success" and "tokens" not in entry
    assert manifest["format"] == "jsonl" and manifest["filters"]["dedupe"] is True


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny word-level tokenizer with a chat template, saved like a hub folder (no network needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")
    fast.chat_template = (
        "{% for t in tools or [] %}tool {{ t.function.name }}\n{% endfor %}"
        "{% for m in messages %}{{ m.role }}: {{ m.content or '' }}"
        "{% for c in m.tool_calls or [] %} call {{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}"
        "\n{% endfor %}"
    )
    folder = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(folder)
    return folder


def test_token_limit_drops_or_truncates_and_is_reported(
    recordings: Path, tmp_path: Path, tokenizer: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out.jsonl"
    assert run(recordings, "export", "--out", str(out), "--tokenizer", str(tokenizer)) == 0
    tokens = [entry["tokens"] for entry in json.loads((tmp_path / "out.jsonl.manifest.json").read_text())["samples"]]
    assert len(tokens) == 4 and all(count > 500 for count in tokens)  # the long test log dominates
    limit = str(min(tokens) - 1)
    assert run(recordings, "export", "--out", str(out), "--tokenizer", str(tokenizer), "--max-length", limit) == 0
    assert "exported 0 samples" in capsys.readouterr().err and lines(out) == []
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["counts"]["too_long"] == 4 and manifest["filters"]["max_length"] == int(limit)

    args = ["--out", str(out), "--tokenizer", str(tokenizer), "--max-length", "100", "--too-long", "truncate"]
    assert run(recordings, "export", *args) == 0
    assert "0 dropped as longer than 100 tokens, 4 truncated" in capsys.readouterr().err
    for row in lines(out):  # cut after the first assistant message: before the long log
        roles = [m["role"] for m in row["messages"]]
        assert roles[-1] == "assistant" and roles.count("assistant") == 1 and "tool" not in roles


def test_a_token_limit_without_a_tokenizer_is_refused(recordings: Path) -> None:
    line = refused(recordings, "export", "--max-length", "10")
    assert line == "sii recordings: error: --max-length needs --tokenizer to measure with"
    assert "cannot load tokenizer" in refused(recordings, "export", "--tokenizer", str(recordings / "nowhere"))


def test_parquet_loads_with_datasets(recordings: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out.parquet"
    export(recordings, "parquet", out, Selection())
    loaded = datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == 4 and loaded.column_names[:2] == ["messages", "tools"]
    assert json.loads(loaded[0]["tools"]) == TOOLS
    assert json.loads(loaded[0]["messages"])[2]["tool_calls"][0]["function"]["arguments"] == {"path": "calc.py"}


def test_import_reads_a_sharegpt_json_array_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [
        {
            "conversations": [
                {"from": "human", "value": "weather in Paris?"},
                {"from": "function_call", "value": '{"name": "weather", "arguments": "{\\"city\\": \\"Paris\\"}"}'},
                {"from": "observation", "value": "18C"},
                {"from": "gpt", "value": "18C in Paris."},
            ],
            "tools": '[{"name": "weather", "description": "", "parameters": {}}]',
        }
    ]
    source, imported = tmp_path / "glaive.json", tmp_path / "imported"
    source.write_text(json.dumps(records, indent=2))
    assert run(imported, "import", str(source)) == 0
    assert "imported 1 samples" in capsys.readouterr().err
    (path,) = imported.glob("*.jsonl")
    (sample,) = read_trajectory(path).samples()
    assert sample["messages"][1]["tool_calls"] == [call("call_1_0", "weather", {"city": "Paris"})]
    assert sample["messages"][2] == {"role": "tool", "tool_call_id": "call_1_0", "content": "18C"}
    assert sample["tools"] == [{"name": "weather", "description": "", "parameters": {}}]


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<"), max_size=20)
arguments = st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), text, st.booleans(), st.none()), max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """User turns, each followed by batches of parallel calls with their results, then an answer."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": draw(text.filter(bool))}]
    for turn in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(text)})
        for batch in range(draw(st.integers(0, 3))):
            names = draw(st.lists(st.sampled_from(["read_file", "run_shell"]), min_size=1, max_size=3))
            calls = [call(f"{turn}.{batch}.{n}", name, draw(arguments)) for n, name in enumerate(names)]
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            messages += [{"role": "tool", "tool_call_id": c["id"], "content": draw(text)} for c in calls]
        answer = {"role": "assistant", "content": draw(text)}
        if draw(st.booleans()):
            answer["reasoning"] = draw(text.filter(bool))
        messages.append(answer)
    return {"messages": messages, "tools": TOOLS}


@settings(max_examples=200, deadline=None)
@given(conversations())
def test_sharegpt_keeps_everything_but_ids_and_is_stable(sample: dict[str, Any]) -> None:
    record = to_sharegpt(sample)
    back = from_sharegpt(json.loads(json.dumps(record)))
    assert to_sharegpt(back) == record
    for original, copy in zip(sample["messages"], back["messages"], strict=True):
        assert (copy["role"], copy["content"], copy.get("reasoning")) == (
            original["role"],
            original["content"],
            original.get("reasoning"),
        )
        functions = [c["function"] for c in original.get("tool_calls", [])]
        assert [c["function"] for c in copy.get("tool_calls", [])] == functions


# --- trainer formats: slime/LIMI parquet, Hugging Face folder, LLaMA-Factory --------------------------------


def limi_rows(*arguments: dict[str, Any] | str) -> list[dict[str, Any]]:
    """One LIMI sample per `arguments`, each a read_file call with them (different prompts: no duplicates)."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"task {number}"},
                {"role": "assistant", "content": None, "tool_calls": [call(f"c{number}", "read_file", args)]},
                {"role": "tool", "tool_call_id": f"c{number}", "content": "text"},
                {"role": "assistant", "content": f"done {number}"},
            ],
            "tools": TOOLS,
        }
        for number, args in enumerate(arguments)
    ]


def imported_dataset(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    source, recordings = tmp_path / "rows.jsonl", tmp_path / "recordings"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert run(recordings, "import", str(source)) == 0
    return recordings


def test_an_sii_cli_log_exports_to_slime_exactly_as_limi_writes_it(tmp_path: Path, tokenizer: Path) -> None:
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    from tests.test_importers import LIMI_SAMPLE, SII_CLI

    source, recordings = tmp_path / "conversation_logs" / "conv-1.json", tmp_path / "recordings"
    source.parent.mkdir()
    source.write_text(json.dumps(SII_CLI), encoding="utf-8")
    assert run(recordings, "import", str(source)) == 0
    out = tmp_path / "slime" / "train.parquet"
    limits = ["--tokenizer", str(tokenizer), "--max-length", "128000", "--duplicate-times", "3"]
    assert run(recordings, "export", "--format", "slime", "--out", str(out), *limits) == 0
    limi = tmp_path / "limi.parquet"
    pd.DataFrame([LIMI_SAMPLE] * 3).to_parquet(limi)  # the last step of messages_json2parquet_128k.py
    mine, theirs = pq.read_table(out), pq.read_table(limi)
    assert mine.schema.equals(theirs.schema) and mine.to_pylist() == theirs.to_pylist()

    frame = pd.read_parquet(out)  # how slime reads it
    assert list(frame.columns) == ["tools", "messages"] and len(frame) == 3
    assert all(str(dtype) == "object" for dtype in frame.dtypes)
    messages = frame.iloc[0]["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert messages[2]["tool_calls"][0]["function"]["arguments"]["command"] == "ls"
    assert messages[3]["tool_call_id"] == "c1" and messages[3]["content"] == "a.py\nb.py"
    assert frame.iloc[0]["tools"][1]["function"]["parameters"]["properties"]["path"]["type"] == "string"
    datasets = pytest.importorskip("datasets")  # slime's read_file: Dataset.from_parquet, then data["messages"]
    row = datasets.Dataset.from_parquet(str(out), cache_dir=str(tmp_path / "hf-cache"))[0]
    assert row["messages"][4]["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": {"command": None, "path": "a.py"},
    }


def test_slime_drops_argument_type_conflicts_as_limi_does(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pd = pytest.importorskip("pandas")
    recordings = imported_dataset(tmp_path, limi_rows({"path": "a.py"}, {"path": 3}, '{"path": broken', {"path": "b"}))
    out = tmp_path / "train.parquet"
    assert run(recordings, "export", "--format", "slime", "--out", str(out)) == 0
    assert "3 samples" in capsys.readouterr().err.split(";")[0]
    frame = pd.read_parquet(out)
    calls = [row[1]["tool_calls"][0]["function"]["arguments"]["path"] for row in frame["messages"]]
    assert calls == ["a.py", None, "b"]  # the int path is dropped; unparsable arguments become {} (LIMI's fix)
    manifest = json.loads(out.with_name("train.parquet.manifest.json").read_text())
    assert manifest["counts"]["type_conflicts"] == 1 and manifest["counts"]["written"] == 3
    assert len(manifest["samples"]) == 3


def test_slime_without_the_type_check_would_not_be_writable(tmp_path: Path) -> None:
    """Why the check exists: Arrow refuses one argument name holding two types."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    rows = [{"tools": TOOLS, "messages": row["messages"]} for row in limi_rows({"path": "a.py"}, {"path": 3})]
    with pytest.raises(pa.ArrowInvalid, match=r"Could not convert 'a\.py' with type str"):
        pd.DataFrame(rows).to_parquet(tmp_path / "x.parquet")


def test_slime_over_the_token_limit_is_dropped_and_the_file_keeps_its_columns(tmp_path: Path, tokenizer: Path) -> None:
    pd = pytest.importorskip("pandas")
    recordings = imported_dataset(tmp_path, limi_rows({"path": "a.py"}))
    out = tmp_path / "train.parquet"
    limits = ["--tokenizer", str(tokenizer), "--max-length", "3"]
    assert run(recordings, "export", "--format", "slime", "--out", str(out), *limits) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["tools", "messages"] and len(frame) == 0


def test_duplicate_times_is_for_slime_only(recordings: Path, tmp_path: Path) -> None:
    assert "--duplicate-times" in refused(
        recordings, "export", "--out", str(tmp_path / "x.jsonl"), "--duplicate-times", "2"
    )
    assert "--duplicate-times" in refused(
        recordings, "export", "--format", "slime", "--out", str(tmp_path / "x.parquet"), "--duplicate-times", "0"
    )
    assert "needs --out DIR" in refused(recordings, "export", "--format", "hf")


def test_hf_folder_loads_with_datasets_and_has_a_card(recordings: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from tests.test_importers import TOKEN

    make_recording(
        recordings / "20260101-000004-dddddd.jsonl",
        messages({"role": "user", "content": f"deploy with {TOKEN}"}, {"role": "assistant", "content": "Deployed."}),
        redactor=None,  # a secret left in
        face="repl",
        model="qwen3-8b",
        base_url="",
        started_at=4.0,
        outcome="success",
    )
    out = tmp_path / "hf"
    assert run(recordings, "export", "--format", "hf", "--out", str(out)) == 0
    loaded = datasets.load_from_disk(str(out))
    assert loaded.num_rows == 5
    first = loaded[0]
    assert first["tools"] == TOOLS  # each tool keeps its own parameters: no struct merged over every tool
    assert first["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"path": "calc.py"}
    assert first["messages"][2]["reasoning_content"] == "Look at the code and the tests first."
    assert "reasoning" not in first["messages"][2]
    assert (first["session_id"], first["context"], first["label"]) == ("20260101-000001-aaaaaa", 0, "success")
    assert (
        TOKEN not in json.dumps(loaded[4]["messages"])
        and "[REDACTED:github_token]" in loaded[4]["messages"][0]["content"]
    )
    card = (out / "README.md").read_text()
    assert "5 samples from 4 sessions" in card
    assert "Labels: fail 1, success 3, unlabelled 1" in card
    assert "estimated as JSON characters / 4" in card and "github_token 1" in card
    compile((out / "train_trl.py").read_text(), "train_trl.py", "exec")
    assert (
        run(recordings, "export", "--format", "hf", "--out", str(out), "--label", "success") == 0
    )  # replaces its export
    assert datasets.load_from_disk(str(out)).num_rows == 3


def test_hf_refuses_a_folder_that_holds_something_else(recordings: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("mine")
    assert "other than a dataset" in refused(recordings, "export", "--format", "hf", "--out", str(tmp_path / "work"))
    assert (tmp_path / "work" / "notes.txt").read_text() == "mine"


def test_sharegpt_is_what_llamafactory_accepts_with_its_dataset_info(recordings: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    theirs = {"alpaca_en": {"file_name": "alpaca_en.json"}}
    (data / "dataset_info.json").write_text(json.dumps(theirs))
    out = data / "sii_agent.json"
    assert run(recordings, "export", "--format", "sharegpt", "--out", str(out)) == 0
    info = json.loads((data / "dataset_info.json").read_text())
    assert info["alpaca_en"] == theirs["alpaca_en"]
    entry = info["sii_agent"]
    assert (entry["file_name"], entry["formatting"], entry["columns"]["messages"]) == (
        "sii_agent.json",
        "sharegpt",
        "conversations",
    )
    assert entry["tags"]["function_tag"] == "function_call" and entry["tags"]["observation_tag"] == "observation"
    records = lines(out)
    for record in records:  # LLaMA-Factory's rule: (human|observation) then (gpt|function_call), an even count
        kinds = [turn["from"] for turn in record["conversations"]]
        assert all(kind in ("human", "observation") for kind in kinds[0::2]), kinds
        assert all(kind in ("gpt", "function_call") for kind in kinds[1::2]), kinds
        assert len(kinds) % 2 == 0
    compacted = records[1]["conversations"][0]  # summary and the next prompt: merged, nothing dropped
    assert compacted == {"from": "human", "value": "Summary: add() was fixed in calc.py.\n\nnow check util.py too"}


def test_a_damaged_dataset_info_is_not_overwritten(recordings: Path, tmp_path: Path) -> None:
    (tmp_path / "dataset_info.json").write_text("{not json")
    assert "not readable JSON" in refused(
        recordings, "export", "--format", "sharegpt", "--out", str(tmp_path / "sii.json")
    )
    assert (tmp_path / "dataset_info.json").read_text() == "{not json"
