"""Importing other agents' session logs: each format from a hand-written fixture (a tool call, its result,
reasoning, an error), read back as a normal recording that validates; then the faults a real log directory
holds (torn lines, sessions cut off mid-call, links, cycles, huge files, junk)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from recordings import export_commands
from recordings.cli import Places
from recordings.importers import common, detect
from recordings.importers.common import repair
from recordings.schema import Trajectory
from recordings.store import list_sessions, read_trajectory
from recordings.validate import problems
from tests.secrets_corpus import fake

TOKEN = "ghp_" + fake(36)  # a fake GitHub token, which import must redact


def run(directory: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.set_defaults(places=lambda: Places(directory.parent, directory.parent / "cache", directory))
    export_commands.register(parser.add_subparsers(dest="action", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def write(path: Path, content: Any, lines: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if lines:
        path.write_text("".join(json.dumps(record) + "\n" for record in content), encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=1), encoding="utf-8")
    return path


def imported(source: Path, tmp_path: Path, *flags: str) -> Trajectory:
    """Import `source` through the CLI and read back the one recording it made, checked valid."""
    recordings = tmp_path / "recordings"
    assert run(recordings, "import", str(source), *flags) == 0
    (path,) = recordings.glob("*.jsonl")
    trajectory = read_trajectory(path)
    assert problems(trajectory) == []
    assert trajectory.meta.face == "import" and str(source.resolve()) in trajectory.meta.notes[0]
    return trajectory


CLAUDE = [
    {"type": "summary", "summary": "Fixing tests", "leafUuid": "u0"},
    {
        "type": "user",
        "uuid": "u1",
        "parentUuid": None,
        "sessionId": "cc-1",
        "cwd": "/work/proj",
        "timestamp": "2026-01-02T03:04:05.000Z",
        "version": "2.0.75",
        "message": {"role": "user", "content": "run the tests"},
    },
    {  # one reply, written as three lines with the same message id
        "type": "assistant",
        "uuid": "a1",
        "sessionId": "cc-1",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "thinking", "thinking": "Tests first.", "signature": "c2ln"}],
        },
    },
    {
        "type": "assistant",
        "uuid": "a2",
        "sessionId": "cc-1",
        "message": {"id": "msg_1", "role": "assistant", "content": [{"type": "text", "text": "Running them."}]},
    },
    {
        "type": "assistant",
        "uuid": "a3",
        "sessionId": "cc-1",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "pytest -q"}}],
        },
    },
    {
        "type": "user",
        "uuid": "u2",
        "sessionId": "cc-1",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "1 failed", "is_error": True}],
        },
        "toolUseResult": {"stdout": "1 failed"},
    },
    {  # a sub-agent's line: its own conversation, not this one
        "type": "assistant",
        "isSidechain": True,
        "sessionId": "cc-1",
        "message": {"id": "msg_side", "role": "assistant", "content": [{"type": "text", "text": "sub-agent"}]},
    },
    {  # written by the CLI, not typed by the user
        "type": "user",
        "isMeta": True,
        "sessionId": "cc-1",
        "message": {"role": "user", "content": "<local-command-stdout></local-command-stdout>"},
    },
    {
        "type": "assistant",
        "sessionId": "cc-1",
        "message": {
            "id": "msg_2",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "calc.py"}}],
        },
    },
    {
        "type": "user",
        "sessionId": "cc-1",
        "message": {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": f"KEY={TOKEN}"}]}
            ],
        },
    },
    {
        "type": "assistant",
        "sessionId": "cc-1",
        "message": {"id": "msg_3", "role": "assistant", "content": [{"type": "text", "text": "Fixed."}]},
    },
]


def test_claude_code_transcript(tmp_path: Path) -> None:
    source = write(tmp_path / "claude" / "-work-proj" / "cc-1.jsonl", CLAUDE, lines=True)
    with open(source, "a") as handle:
        handle.write('{"type": "user", "mess')  # the CLI was killed mid-line
    assert detect(source) == "claude"
    trajectory = imported(source, tmp_path)
    assert trajectory.messages == [
        {"role": "user", "content": "run the tests"},
        {
            "role": "assistant",
            "content": "Running them.",
            "reasoning": "Tests first.",
            "tool_calls": [call("toolu_1", "Bash", {"command": "pytest -q"})],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "1 failed"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_2", "Read", {"file_path": "calc.py"})]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "KEY=[REDACTED:github_token]"},
        {"role": "assistant", "content": "Fixed."},
    ]
    meta = trajectory.meta
    assert (meta.model, meta.workspace, meta.tags, meta.outcome) == (
        "claude-sonnet-4-5",
        "/work/proj",
        ["source:claude"],
        None,
    )
    assert meta.started_at == 1767323045.0 and "cc-1" in meta.notes[0]
    assert (
        trajectory.redactions == {"github_token": 1}
        and TOKEN not in source.parent.parent.parent.joinpath("recordings", f"{meta.session_id}.jsonl").read_text()
    )


CODEX = [
    {
        "timestamp": "2026-01-02T03:04:05.000Z",
        "type": "session_meta",
        "payload": {
            "id": "cx-1",
            "timestamp": "2026-01-02T03:04:05.000Z",
            "cwd": "/work/proj",
            "originator": "codex_cli_rs",
            "cli_version": "0.77.0",
        },
    },
    {"timestamp": "t", "type": "turn_context", "payload": {"cwd": "/work/proj", "model": "gpt-5-codex"}},
    {
        "type": "response_item",
        "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix calc"}]},
    },
    {
        "type": "response_item",
        "payload": {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "**Reading calc**"}],
            "content": None,
            "encrypted_content": "gAAAAB",
        },
    },
    {
        "type": "response_item",
        "payload": {
            "type": "function_call",
            "name": "shell",
            "arguments": '{"command":["cat","calc.py"]}',
            "call_id": "c_a",
        },
    },
    {"type": "event_msg", "payload": {"type": "token_count", "info": None}},
    {"type": "response_item", "payload": {"type": "function_call_output", "call_id": "c_a", "output": "def add(a, b)"}},
    {
        "type": "response_item",
        "payload": {"type": "custom_tool_call", "call_id": "c_b", "name": "apply_patch", "input": "*** Begin Patch"},
    },
    {
        "type": "response_item",
        "payload": {"type": "custom_tool_call_output", "call_id": "c_b", "output": "error: patch failed"},
    },
    {
        "type": "response_item",
        "payload": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It failed."}]},
    },
    {"type": "compacted", "payload": {"message": "Summary: the patch failed"}},
    {
        "type": "response_item",
        "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "try again"}]},
    },
    {
        "type": "response_item",
        "payload": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
    },
    {  # the session was closed before this call returned
        "type": "response_item",
        "payload": {"type": "function_call", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "c_c"},
    },
]


def test_codex_rollout_with_a_compaction(tmp_path: Path) -> None:
    source = write(tmp_path / "sessions" / "2026" / "01" / "02" / "rollout-2026-01-02T03-04-05-cx-1.jsonl", CODEX, True)
    assert detect(source) == "codex"
    trajectory = imported(source, tmp_path, "--from", "codex")
    first, second = (sample["messages"] for sample in trajectory.samples())
    assert first == [
        {"role": "user", "content": "fix calc"},
        {
            "role": "assistant",
            "content": None,
            "reasoning": "**Reading calc**",
            "tool_calls": [call("c_a", "shell", {"command": ["cat", "calc.py"]})],
        },
        {"role": "tool", "tool_call_id": "c_a", "content": "def add(a, b)"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("c_b", "apply_patch", {"input": "*** Begin Patch"})],
        },
        {"role": "tool", "tool_call_id": "c_b", "content": "error: patch failed"},
        {"role": "assistant", "content": "It failed."},
    ]
    assert second == [  # the cut-off call is gone; its text stays
        {"role": "user", "content": "Summary: the patch failed"},
        {"role": "user", "content": "try again"},
        {"role": "assistant", "content": "Done."},
    ]
    assert (trajectory.meta.model, trajectory.meta.workspace) == ("gpt-5-codex", "/work/proj")
    assert "1 tool call(s) without a result removed" in trajectory.meta.notes


SII_CLI_TOOLS = [
    {
        "name": "run_shell_command",
        "description": "Runs a shell command",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "command": {"type": "STRING", "description": "the command"},
                "timeout": {"type": "INTEGER", "description": "seconds"},
            },
            "required": ["command"],
        },
    },
    {
        "name": "read_file",
        "description": "Reads a file",
        "parameters": {
            "type": "OBJECT",
            "properties": {"path": {"type": "STRING", "description": "file path"}},
            "required": ["path"],
        },
    },
]
TURNS = [
    {"role": "user", "parts": [{"text": "list files"}]},
    {
        "role": "model",
        "parts": [
            {"text": "Listing."},
            {"functionCall": {"id": "c1", "name": "run_shell_command", "args": {"command": "ls"}}},
        ],
    },
    {
        "role": "user",
        "parts": [
            {"functionResponse": {"id": "c1", "name": "run_shell_command", "response": {"output": "a.py\nb.py"}}}
        ],
    },
    {"role": "model", "parts": [{"functionCall": {"id": "c2", "name": "read_file", "args": {"path": "a.py"}}}]},
    {
        "role": "user",
        "parts": [{"functionResponse": {"id": "c2", "name": "read_file", "response": {"output": "print(1)"}}}],
    },
    {"role": "model", "parts": [{"text": "a.py prints 1."}]},
    {"role": "user", "parts": [{"text": "thanks"}]},
]


def sii_cli_log(requests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "conv-1",
        "model": "glm-4.5",
        "created": "2026-01-02T03:04:05.000Z",
        "events": [{"type": "api_request_full", "data": {"full_request": request}} for request in requests],
    }


SII_CLI = sii_cli_log(
    [  # the agent sends the whole conversation each time; a tool group can appear later
        {
            "messages": TURNS[:1],
            "tools": [{"functionDeclarations": SII_CLI_TOOLS[:1]}],
            "system_instruction": "You are SII.",
        },
        {
            "messages": TURNS[:3],
            "tools": [{"functionDeclarations": SII_CLI_TOOLS}],
            "system_instruction": "You are SII.",
        },
        {"messages": TURNS, "tools": [{"functionDeclarations": SII_CLI_TOOLS}], "system_instruction": "You are SII."},
    ]
)

# What LIMI's events2messages.py makes of SII_CLI, worked out by hand from its code: tools with lower-case types,
# the system prompt followed by its tool list (types as declared), then the last request's messages.
LIMI_SYSTEM = (
    "You are SII.\n\nYou have access to the following tools:\n\n"
    "1. **run_shell_command**: Runs a shell command\n   Parameters:\n"
    "   - command (STRING) (required): the command\n   - timeout (INTEGER): seconds\n\n"
    "2. **read_file**: Reads a file\n   Parameters:\n   - path (STRING) (required): file path\n\n"
    "Use these tools by making function calls in your responses when appropriate. "
    "Each tool call should include the function name and required parameters."
)
LIMI_SAMPLE = {
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "run_shell_command",
                "description": "Runs a shell command",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "command": {"type": "string", "description": "the command"},
                        "timeout": {"type": "integer", "description": "seconds"},
                    },
                    "required": ["command"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Reads a file",
                "parameters": {
                    "type": "object",
                    "properties": {"path": {"type": "string", "description": "file path"}},
                    "required": ["path"],
                },
            },
        },
    ],
    "messages": [
        {"role": "system", "content": LIMI_SYSTEM},
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": "Listing.",
            "tool_calls": [call("c1", "run_shell_command", {"command": "ls"})],
        },
        {"role": "tool", "content": "a.py\nb.py", "tool_call_id": "c1"},
        {"role": "assistant", "content": "", "tool_calls": [call("c2", "read_file", {"path": "a.py"})]},
        {"role": "tool", "content": "print(1)", "tool_call_id": "c2"},
        {"role": "assistant", "content": "a.py prints 1."},
        {"role": "user", "content": "thanks"},
    ],
}


def test_sii_cli_log_reads_as_limi_does(tmp_path: Path) -> None:
    source = write(tmp_path / ".sii" / "conversation_logs" / "conv-1.json", SII_CLI)
    assert detect(source) == "sii-cli"
    trajectory = imported(source, tmp_path)
    assert trajectory.samples() == [{"messages": LIMI_SAMPLE["messages"], "tools": LIMI_SAMPLE["tools"]}]
    assert (trajectory.meta.model, trajectory.meta.tags) == ("glm-4.5", ["source:sii-cli"])


def test_sii_cli_compaction_keeps_the_dropped_turns(tmp_path: Path) -> None:
    summary = {"role": "user", "parts": [{"text": "Summary: listed files"}]}
    after = [summary, {"role": "model", "parts": [{"text": "Got it.", "thought": False}]}, TURNS[-1]]
    log = sii_cli_log(
        [{"messages": TURNS, "system_instruction": {"parts": [{"text": "Be brief."}]}}, {"messages": after}]
    )
    trajectory = imported(write(tmp_path / "c.json", log), tmp_path)
    first, second = (sample["messages"] for sample in trajectory.samples())
    assert first[0] == {"role": "system", "content": "Be brief."} and first[1:] == LIMI_SAMPLE["messages"][1:]
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summary: listed files"},
        {"role": "assistant", "content": "Got it."},
        {"role": "user", "content": "thanks"},
    ]


def test_gemini_cli_chat_recording(tmp_path: Path) -> None:
    chat = {
        "sessionId": "g-1",
        "projectHash": "ab12",
        "startTime": "2026-01-02T03:04:05.000Z",
        "lastUpdated": "2026-01-02T03:05:00.000Z",
        "messages": [
            {"id": "m1", "timestamp": "t", "type": "user", "content": "what is in README?"},
            {
                "id": "m2",
                "timestamp": "t",
                "type": "gemini",
                "content": "",
                "model": "gemini-2.5-pro",
                "thoughts": [{"subject": "Reading", "description": "I should read it.", "timestamp": "t"}],
                "toolCalls": [
                    {
                        "id": "read-1",
                        "name": "read_file",
                        "args": {"absolute_path": "/p/README.md"},
                        "result": [
                            {
                                "functionResponse": {
                                    "id": "read-1",
                                    "name": "read_file",
                                    "response": {"output": "# Demo"},
                                }
                            }
                        ],
                        "status": "success",
                        "timestamp": "t",
                    },
                    {
                        "id": "run-2",
                        "name": "run_shell_command",
                        "args": {"command": "false"},
                        "result": [
                            {
                                "functionResponse": {
                                    "id": "run-2",
                                    "name": "run_shell_command",
                                    "response": {"error": "exit 1"},
                                }
                            }
                        ],
                        "status": "error",
                        "timestamp": "t",
                    },
                ],
            },
            {"id": "m3", "timestamp": "t", "type": "info", "content": "Switched model"},
            {"id": "m4", "timestamp": "t", "type": "gemini", "content": "It says Demo.", "model": "gemini-2.5-pro"},
        ],
    }
    source = write(tmp_path / ".gemini" / "tmp" / "ab12" / "chats" / "session-2026-01-02T03-04-g1.json", chat)
    assert detect(source) == "gemini"
    trajectory = imported(source, tmp_path)
    assert trajectory.messages == [
        {"role": "user", "content": "what is in README?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "Reading: I should read it.",
            "tool_calls": [
                call("read-1", "read_file", {"absolute_path": "/p/README.md"}),
                call("run-2", "run_shell_command", {"command": "false"}),
            ],
        },
        {"role": "tool", "tool_call_id": "read-1", "content": "# Demo"},
        {"role": "tool", "tool_call_id": "run-2", "content": "exit 1"},
        {"role": "assistant", "content": "It says Demo."},
    ]
    assert trajectory.meta.model == "gemini-2.5-pro" and trajectory.meta.started_at == 1767323045.0


def test_gemini_checkpoint_without_ids_pairs_results_by_name_and_order(tmp_path: Path) -> None:
    history = [
        {"role": "user", "parts": [{"text": "hi"}, "junk", None]},
        {
            "role": "model",
            "parts": [
                {"text": "Two places to look.", "thought": True},
                {"functionCall": {"name": "ls", "args": {"path": "."}}},
                {"functionCall": {"name": "grep", "args": "not an object"}},
                {"functionCall": {"name": "ls", "args": {"path": "src"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "ls", "response": {"output": "a"}}},
                {"functionResponse": {"name": "ls", "response": {"output": "b"}}},
                {"functionResponse": {"name": "grep", "response": {"error": "no match"}}},
            ],
        },
        {"role": "model", "parts": [{"text": "Done."}]},
    ]
    trajectory = imported(write(tmp_path / "checkpoint-work.json", history), tmp_path)
    assert trajectory.messages == [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "Two places to look.",
            "tool_calls": [
                call("call_1", "ls", {"path": "."}),
                call("call_2", "grep", {}),
                call("call_3", "ls", {"path": "src"}),
            ],
        },
        {"role": "tool", "content": "a", "tool_call_id": "call_1"},
        {"role": "tool", "content": "b", "tool_call_id": "call_3"},
        {"role": "tool", "content": "no match", "tool_call_id": "call_2"},
        {"role": "assistant", "content": "Done."},
    ]


def qwen_record(uuid: str, parent: str | None, kind: str, role: str, parts: list, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "parentUuid": parent,
        "sessionId": "q-1",
        "timestamp": "2026-01-02T03:04:05.000Z",
        "type": kind,
        "cwd": "/work/proj",
        "version": "0.2.0",
        "message": {"role": role, "parts": parts},
        **extra,
    }


QWEN = [
    qwen_record("1", None, "user", "user", [{"text": "count lines"}]),
    qwen_record(
        "2",
        "1",
        "assistant",
        "model",
        [
            {"text": "Use wc.", "thought": True},
            {"functionCall": {"id": "q1", "name": "shell", "args": {"command": "wc -l"}}},
        ],
        model="qwen3-coder-plus",
    ),
    qwen_record(
        "3",
        "2",
        "tool_result",
        "user",
        [{"functionResponse": {"id": "q1", "name": "shell", "response": {"output": "42"}}}],
    ),
    qwen_record("4", "3", "assistant", "model", [{"text": "A reply the user retried."}]),
    {"uuid": "s", "parentUuid": "3", "type": "system", "subtype": "ui_telemetry"},
    qwen_record("5", "3", "assistant", "model", [{"text": "42 lines."}], model="qwen3-coder-plus"),
]


def test_qwen_code_chat_follows_the_branch_that_was_kept(tmp_path: Path) -> None:
    source = write(tmp_path / ".qwen" / "projects" / "p" / "chats" / "q-1.jsonl", QWEN, lines=True)
    assert detect(source) == "qwen"
    trajectory = imported(source, tmp_path)
    assert trajectory.messages == [
        {"role": "user", "content": "count lines"},
        {
            "role": "assistant",
            "content": "",
            "reasoning": "Use wc.",
            "tool_calls": [call("q1", "shell", {"command": "wc -l"})],
        },
        {"role": "tool", "content": "42", "tool_call_id": "q1"},
        {"role": "assistant", "content": "42 lines."},
    ]
    assert (trajectory.meta.model, trajectory.meta.workspace) == ("qwen3-coder-plus", "/work/proj")


def test_qwen_parent_cycle_ends(tmp_path: Path) -> None:
    looped = [
        qwen_record("1", "2", "user", "user", [{"text": "a"}]),
        qwen_record("2", "1", "assistant", "model", [{"text": "b"}]),
    ]
    trajectory = imported(write(tmp_path / "loop.jsonl", looped, lines=True), tmp_path)
    assert trajectory.messages == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]


MINI_TOOLCALL = {
    "info": {
        "model_stats": {"instance_cost": 0.01, "api_calls": 2},
        "config": {
            "model": {"model_name": "openai/gpt-5-mini"},
            "agent_type": "minisweagent.agents.default.DefaultAgent",
        },
        "mini_version": "2.4.6",
        "exit_status": "Submitted",
        "submission": "diff --git",
    },
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "text", "text": "Fix the bug in calc.py"}]},
        {
            "role": "assistant",
            "content": "Let me look.",
            "reasoning_content": "Check the file first.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "bash", "arguments": '{"command": "cat calc.py"}'},
                }
            ],
            "extra": {"cost": 0.01},
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "<returncode>1</returncode>\ncat: calc.py: No such file"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "bash", "arguments": '{"command": "echo done"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": "done"},
        {"role": "exit", "content": "Submitted", "extra": {"exit_status": "Submitted"}},
    ],
    "trajectory_format": "mini-swe-agent-1.1",
}


def test_mini_swe_agent_tool_calling_trajectory(tmp_path: Path) -> None:
    source = write(tmp_path / "runs" / "calc-1" / "calc-1.traj.json", MINI_TOOLCALL)
    assert detect(source) == "mini-swe-agent"
    trajectory = imported(source, tmp_path)
    assert trajectory.messages == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Fix the bug in calc.py"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "reasoning": "Check the file first.",
            "tool_calls": [call("call_1", "bash", {"command": "cat calc.py"})],
        },
        {"role": "tool", "content": "<returncode>1</returncode>\ncat: calc.py: No such file", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "", "tool_calls": [call("call_2", "bash", {"command": "echo done"})]},
        {"role": "tool", "content": "done", "tool_call_id": "call_2"},
    ]
    assert trajectory.tools[0]["function"]["name"] == "bash" and trajectory.meta.model == "openai/gpt-5-mini"
    assert any("exit status Submitted" in note for note in trajectory.meta.notes)


def test_mini_swe_agent_text_trajectory_stays_text(tmp_path: Path) -> None:
    text = {
        "info": {"exit_status": "LimitsExceeded", "submission": ""},
        "messages": [
            {"role": "system", "content": "Reply with one bash block."},
            {"role": "user", "content": "Count the files."},
            {"role": "assistant", "content": "THOUGHT: list them\n\n```bash\nls | wc -l\n```"},
            {"role": "user", "content": "<returncode>0</returncode>\n<output>3</output>"},
        ],
        "trajectory_format": "mini-swe-agent-1",
    }
    trajectory = imported(write(tmp_path / "t.traj.json", text), tmp_path)
    assert trajectory.messages == [{"role": m["role"], "content": m["content"]} for m in text["messages"]]
    assert trajectory.tools == []


# --- faults --------------------------------------------------------------------------------------------------


def test_repair_drops_unanswered_calls_orphan_results_and_reorders_interleaved_lines() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("a", "x", {}), call("b", "y", {})]},
        {"role": "user", "content": "[Request interrupted by user]"},  # written between the call and its result
        {"role": "tool", "tool_call_id": "a", "content": "ok"},
        {"role": "tool", "tool_call_id": "ghost", "content": "from nowhere"},
        {"role": "tool", "tool_call_id": "a", "content": "answered twice"},
        {"role": "assistant", "content": None, "tool_calls": [call("c", "z", {})]},  # never answered: the end
    ]
    fixed, changes = repair(messages)  # type: ignore[arg-type]
    assert fixed == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("a", "x", {})]},
        {"role": "tool", "tool_call_id": "a", "content": "ok"},
        {"role": "user", "content": "[Request interrupted by user]"},
    ]
    assert changes == ["2 tool call(s) without a result removed", "2 tool result(s) without a call removed"]


def test_import_is_idempotent_and_dir_imports_only_what_is_new(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    logs, recordings = tmp_path / "logs", tmp_path / "recordings"
    write(logs / "a" / "cc-1.jsonl", CLAUDE, lines=True)
    write(logs / "conv-1.json", SII_CLI)
    write(logs / "notes.json", {"unrelated": True})  # other JSON in the folder is left alone
    assert run(recordings, "import", "--dir", str(logs)) == 0
    assert "imported 2 session log(s)" in capsys.readouterr().err
    assert run(recordings, "import", "--dir", str(logs)) == 0
    assert run(recordings, "import", str(logs / "conv-1.json")) == 0
    assert capsys.readouterr().err.splitlines() == [
        "imported 0 session log(s); 2 were imported before",
        "imported 0 session log(s); 1 were imported before",
    ]
    write(logs / "b.traj.json", MINI_TOOLCALL)
    assert run(recordings, "import", "--dir", str(logs), "--from", "mini-swe-agent") == 0
    sessions = list_sessions(recordings)
    assert sorted(s.tags[0] for s in sessions) == ["source:claude", "source:mini-swe-agent", "source:sii-cli"]


def test_dir_does_not_follow_links_out(tmp_path: Path) -> None:
    outside, logs, recordings = tmp_path / "outside", tmp_path / "logs", tmp_path / "recordings"
    write(outside / "private.jsonl", CLAUDE, lines=True)
    logs.mkdir()
    (logs / "linked-dir").symlink_to(outside, target_is_directory=True)
    (logs / "linked.jsonl").symlink_to(outside / "private.jsonl")
    assert run(recordings, "import", "--dir", str(logs)) == 0
    assert list(recordings.glob("*.jsonl")) == []


def test_a_bad_file_is_reported_and_the_rest_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    good = write(tmp_path / "cc.jsonl", CLAUDE, lines=True)
    empty = write(tmp_path / "empty.json", sii_cli_log([{"messages": []}]))
    huge = write(tmp_path / "huge.json", {**SII_CLI, "padding": "x" * good.stat().st_size})
    huge_lines = write(
        tmp_path / "huge.jsonl", [*CLAUDE, {"type": "summary", "summary": "x" * good.stat().st_size}], True
    )
    monkeypatch.setattr(common, "MAX_SOURCE_BYTES", good.stat().st_size)
    recordings = tmp_path / "recordings"
    assert run(recordings, "import", str(good), str(empty), str(huge), str(huge_lines), "--from", "auto") == 1
    err = capsys.readouterr().err
    assert "imported 1 session log(s)" in err and "3 failed" in err
    assert f"{empty}: {empty}: no messages to import" in err
    for big in (huge, huge_lines):
        assert f"{big}: {big}: {big.stat().st_size} bytes is more than the {good.stat().st_size} an import reads" in err
    assert len(list(recordings.glob("*.jsonl"))) == 1 and not list(recordings.glob("*.partial"))


def test_forcing_the_wrong_format_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = write(tmp_path / "cc.jsonl", CLAUDE, lines=True)
    assert run(tmp_path / "recordings", "import", str(source), "--from", "sii-cli") == 1
    assert "not imported" in capsys.readouterr().err
    assert not list((tmp_path / "recordings").glob("*"))


def openhands_metadata(call_id: str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "function_name": "execute_bash",
        "tool_call_id": call_id,
        "model_response": response,
        "total_calls_in_response": 2,
    }


BASH_CALLS = {
    "id": "resp-1",
    "choices": [
        {
            "message": {
                "role": "assistant",
                "content": "Count them.",
                "reasoning_content": "Use ls.",
                "tool_calls": [
                    {
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "execute_bash", "arguments": '{"command": "ls *.py | wc -l"}'},
                    },
                    {
                        "id": "toolu_b",
                        "type": "function",
                        "function": {"name": "execute_bash", "arguments": '{"command": "ls nope"}'},
                    },
                ],
            }
        }
    ],
}
BASH_TOOL_SCHEMA = {
    "type": "function",
    "function": {
        "name": "execute_bash",
        "description": "Run bash",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
    },
}
FINISH = {"id": "resp-2", "choices": [{"message": {"role": "assistant", "content": "", "tool_calls": []}}]}
OPENHANDS = [
    {
        "id": 0,
        "timestamp": "2026-01-02T03:04:05",
        "source": "agent",
        "message": "system",
        "action": "system",
        "args": {
            "content": "You are OpenHands agent.",
            "tools": [BASH_TOOL_SCHEMA],
            "openhands_version": "0.50.0",
            "agent_class": "CodeActAgent",
        },
    },
    {"id": 1, "source": "user", "action": "message", "args": {"content": "How many py files?", "image_urls": None}},
    {
        "id": 2,
        "source": "environment",
        "observation": "agent_state_changed",
        "content": "",
        "extras": {"agent_state": "running"},
    },
    {
        "id": 3,
        "source": "agent",
        "action": "run",
        "args": {"command": "ls *.py | wc -l"},
        "tool_call_metadata": openhands_metadata("toolu_a", BASH_CALLS),
    },
    {
        "id": 4,
        "source": "agent",
        "action": "run",
        "args": {"command": "ls nope"},
        "tool_call_metadata": openhands_metadata("toolu_b", BASH_CALLS),
    },
    {
        "id": 5,
        "cause": 3,
        "source": "agent",
        "observation": "run",
        "content": "3",
        "extras": {"metadata": {"exit_code": 0}},
        "tool_call_metadata": openhands_metadata("toolu_a", BASH_CALLS),
    },
    {
        "id": 6,
        "cause": 4,
        "source": "agent",
        "observation": "error",
        "content": "ls: cannot access 'nope'",
        "extras": {},
        "tool_call_metadata": openhands_metadata("toolu_b", BASH_CALLS),
    },
    {
        "id": 7,
        "source": "agent",
        "action": "finish",
        "args": {"final_thought": "", "thought": "There are 3."},
        "tool_call_metadata": openhands_metadata("toolu_c", FINISH),
    },
]


def test_openhands_event_stream(tmp_path: Path) -> None:
    source = write(tmp_path / "trajectory.json", OPENHANDS)
    assert detect(source) == "openhands"
    trajectory = imported(source, tmp_path)
    assert trajectory.messages == [
        {"role": "system", "content": "You are OpenHands agent."},
        {"role": "user", "content": "How many py files?"},
        {
            "role": "assistant",
            "content": "Count them.",
            "reasoning": "Use ls.",
            "tool_calls": [
                call("toolu_a", "execute_bash", {"command": "ls *.py | wc -l"}),
                call("toolu_b", "execute_bash", {"command": "ls nope"}),
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_a", "content": "3"},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "ls: cannot access 'nope'"},
        {"role": "assistant", "content": "There are 3."},
    ]
    assert trajectory.tools == [BASH_TOOL_SCHEMA]


def test_json_nested_too_deep_is_refused_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    lines = write(tmp_path / "cc.jsonl", CLAUDE, lines=True)
    with open(lines, "a") as handle:  # a hostile line among good ones is skipped like a torn one
        handle.write('{"type": "user", "message": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    recordings = tmp_path / "recordings"
    assert run(recordings, "import", str(deep), str(lines)) == 1
    err = capsys.readouterr().err
    assert f"{deep}: JSON nested too deeply to read" in err and "imported 1 session log(s)" in err
    (path,) = recordings.glob("*.jsonl")
    assert len(read_trajectory(path).messages) == 6


def test_claude_code_compact_boundary_starts_a_new_context(tmp_path: Path) -> None:
    boundary = {
        "type": "system",
        "subtype": "compact_boundary",
        "content": "Conversation compacted",
        "sessionId": "cc-1",
    }
    summary = {
        "type": "user",
        "sessionId": "cc-1",
        "isCompactSummary": True,
        "message": {"role": "user", "content": "This session is being continued: tests were fixed."},
    }
    after = {
        "type": "assistant",
        "sessionId": "cc-1",
        "message": {"id": "msg_9", "role": "assistant", "content": [{"type": "text", "text": "Continuing."}]},
    }
    trajectory = imported(write(tmp_path / "cc.jsonl", [*CLAUDE, boundary, summary, after], lines=True), tmp_path)
    first, second = (sample["messages"] for sample in trajectory.samples())
    assert first[0] == {"role": "user", "content": "run the tests"} and first[-1] == {
        "role": "assistant",
        "content": "Fixed.",
    }
    assert second == [
        {"role": "user", "content": "This session is being continued: tests were fixed."},
        {"role": "assistant", "content": "Continuing."},
    ]
