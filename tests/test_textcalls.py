"""Tool calls written as text (servers without a tool-call parser): the three formats, conservative JSON
repair, a fuzz that nothing crashes, and the agent's answer to a call cut off by max_tokens."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sii.agent import Agent
from sii.client import ModelClient
from sii.textcalls import extract_text_tool_calls, repair_json
from tests.scripted_server import Reply, ScriptedServer
from tools import ToolContext
from tools.default import default_registry

PARAMETERS = {schema["function"]["name"]: schema["function"]["parameters"] for schema in default_registry().schemas()}


def only_call(content: str) -> tuple[str, dict]:
    prose, calls = extract_text_tool_calls(content, PARAMETERS)
    (one,) = calls
    return prose, one["function"]


def test_hermes_json_block_with_prose() -> None:
    prose, function = only_call(
        'Let me read it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    )
    assert prose == "Let me read it."
    assert function == {"name": "read_file", "arguments": {"path": "a.py"}}


def test_glm45_arg_key_value_pairs_are_typed() -> None:
    _, function = only_call(
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>a.py</arg_value>\n"
        "<arg_key>limit</arg_key>\n<arg_value>10</arg_value>\n</tool_call>"
    )
    assert function == {"name": "read_file", "arguments": {"path": "a.py", "limit": 10}}


def test_qwen3_coder_function_parameters_keep_multiline_values() -> None:
    _, function = only_call(
        "<tool_call>\n<function=write_file>\n<parameter=path>\nx.py\n</parameter>\n"
        "<parameter=content>\ndef f():\n    return 1\n</parameter>\n</function>\n</tool_call>"
    )
    assert function == {"name": "write_file", "arguments": {"path": "x.py", "content": "def f():\n    return 1"}}


def test_several_calls_and_plain_text() -> None:
    text = '<tool_call>{"name": "git_status", "arguments": {}}</tool_call><tool_call>{"name": "git_diff"}</tool_call>'
    prose, calls = extract_text_tool_calls(text, PARAMETERS)
    assert prose == "" and [c["function"]["name"] for c in calls] == ["git_status", "git_diff"]
    assert extract_text_tool_calls("just prose, no calls", PARAMETERS) == ("just prose, no calls", [])


def test_repair_is_conservative() -> None:
    assert repair_json('{"path": "a.py",}') == {"path": "a.py"}
    assert repair_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert repair_json('{"a": [1, {"b": 2') == {"a": [1, {"b": 2}]}  # cut short: closers appended
    assert repair_json('{"a": "unterminated') is None  # where would the string end?
    assert repair_json('{"a": 1]') is None  # mismatched: no guessing
    assert repair_json('{"a": "x" "b"}') is None


def test_unrepairable_arguments_stay_raw_for_a_precise_error() -> None:
    _, function = only_call('<tool_call>{"name": "edit_file", "arguments": {"path": "x" "y"}}</tool_call>')
    assert function["name"] == "edit_file" and isinstance(function["arguments"], str)


@settings(max_examples=10_000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*'<>/{}[]",:=\n _abc0', "<tool_call>", "</tool_call>", "<function=f>", "<parameter=p>", "<arg_key>"]
        ),
        max_size=40,
    ).map("".join)
)
def test_fuzz_never_crashes(text: str) -> None:
    prose, calls = extract_text_tool_calls(text, PARAMETERS)
    assert isinstance(prose, str)
    for call in calls:
        assert isinstance(call["function"]["name"], str)
        assert isinstance(call["function"]["arguments"], dict | str)


def test_text_calls_from_a_server_become_real_calls(workspace: Path) -> None:
    script = [Reply('<tool_call>\n{"name": "read_file", "arguments": {"path": "calc.py"}}\n</tool_call>'), Reply("ok")]
    with ScriptedServer(script) as server:
        agent = Agent(ModelClient(server.base_url), default_registry(), ToolContext(workspace), "sys", {})
        agent.run_turn("read calc.py")
    assert agent.messages[2]["tool_calls"][0]["function"] == {"name": "read_file", "arguments": {"path": "calc.py"}}
    assert agent.messages[2]["content"] is None
    assert "return a - b" in agent.messages[3]["content"]


def test_a_call_cut_off_by_max_tokens_gets_a_precise_answer(workspace: Path) -> None:
    cut = Reply("", [("write_file", '{"path": "big.py", "content": "x = 1\\n')], finish_reason="length")
    with ScriptedServer([cut, Reply("ok")]) as server:
        agent = Agent(ModelClient(server.base_url), default_registry(), ToolContext(workspace), "sys", {})
        agent.run_turn("write a big file")
    assert "hit the token limit" in agent.messages[3]["content"]
    assert not (workspace / "big.py").exists()


def test_text_arguments_are_typed_by_the_tool_schema() -> None:
    """GLM/Qwen3-Coder write every value as text: only what the schema says is no string is decoded."""
    _, function = only_call(
        "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>123</arg_value>\n"
        "<arg_key>offset</arg_key>\n<arg_value> 5 </arg_value>\n<arg_key>extra</arg_key>\n<arg_value>[1]</arg_value>\n"
        "</tool_call>"
    )
    assert function["arguments"] == {"path": "123", "offset": 5, "extra": "[1]"}  # unknown: kept as text
    _, function = only_call(
        '<function=edit_file>\n<parameter=path>\na.json\n</parameter>\n<parameter=old_string>\n{"a": 1}\n</parameter>\n'
        "<parameter=new_string>\nnull\n</parameter>\n<parameter=replace_all>\nTrue\n</parameter>\n</function>"
    )
    assert function["arguments"] == {
        "path": "a.json",
        "old_string": '{"a": 1}',
        "new_string": "null",
        "replace_all": True,
    }


def test_text_arguments_of_unknown_tools_and_untyped_schemas_stay_text() -> None:
    schemas = {"t": {"properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "s": {"type": "bogus"}}}}
    _, calls = extract_text_tool_calls(
        "<tool_call>t\n<arg_key>n</arg_key>\n<arg_value>7</arg_value>\n<arg_key>s</arg_key>\n<arg_value>7</arg_value>\n"
        "</tool_call>",
        schemas,
    )
    assert calls[0]["function"]["arguments"] == {"n": 7, "s": 7}  # declared non-string types are decoded
    _, calls = extract_text_tool_calls("<function=nope>\n<parameter=n>\n7\n</parameter>\n</function>", schemas)
    assert calls[0]["function"]["arguments"] == {"n": "7"}
    _, calls = extract_text_tool_calls("<function=t>\n<parameter=n>\nNaN\n</parameter>\n</function>", schemas)
    assert calls[0]["function"]["arguments"] == {"n": "NaN"}  # not JSON: the schema check names it
