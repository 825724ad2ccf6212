"""The sii-cli tool profile: SII CLI's (Gemini CLI v0.1.22's) tool names, schemas and observation texts over sii's
own tools, judged by the same approval rules, recorded with the profile's name, and exported in either profile's
names. Sessions run against the scripted server, with the real shell, git and files."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pexpect
import pytest

from recordings.export import Selection, export
from recordings.store import read_trajectory
from sii.approval import Answer, ApprovalPolicy, Question
from sii.config import Settings
from sii.prompts import system_prompt
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call
from tools.base import ToolContext
from tools.files import MAX_READ_CHARS
from tools.profiles import profile_registry, profile_schemas

FIXTURE = Path(__file__).parent / "fixtures" / "sii_cli_tools.json"


def open_session(server: ScriptedServer, workspace: Path, profile: str, mode: str = "yolo", ask=None) -> Session:
    settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode=mode)
    settings.tool_profile = profile
    return Session(settings, face="test", ask=ask, notify=lambda text: None)


def tool_call(name: str, arguments: dict) -> dict:
    return {"id": "1", "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_messages(session: Session) -> list[str]:
    return [m["content"] or "" for m in session.agent.messages if m["role"] == "tool"]


def test_offered_schemas_match_gemini_cli_declarations() -> None:
    expected = {name: spec for name, spec in json.loads(FIXTURE.read_text()).items() if not name.startswith("_")}
    offered = {schema["function"]["name"]: schema["function"]["parameters"] for schema in profile_schemas("sii-cli")}
    assert list(offered) == list(expected)
    for name, spec in expected.items():
        parameters = offered[name]
        assert sorted(parameters["required"]) == sorted(spec["required"]), name
        assert {key: value["type"] for key, value in parameters["properties"].items()} == spec["properties"], name


def test_scripted_session_in_the_profile(scripted: ScriptedServer, workspace: Path) -> None:
    root = str(workspace.resolve())
    (workspace / "notes.txt").write_text("x = old\ny = old\n")
    scripted.script = [
        Reply(
            "",
            [
                call("run_shell_command", {"command": "git status --short; echo done >&2; exit 3"}),
                call(
                    "replace",
                    {
                        "file_path": f"{root}/notes.txt",
                        "old_string": "old",
                        "new_string": "new",
                        "expected_replacements": 2,
                    },
                ),
                call("replace", {"file_path": f"{root}/calc.py", "old_string": "nowhere", "new_string": "x"}),
                call("search_file_content", {"pattern": "new", "include": "*.txt"}),
                call("read_many_files", {"paths": ["calc.py", "*.txt"]}),
            ],
        ),
        Reply("done"),
    ]
    session = open_session(scripted, workspace, "sii-cli")
    try:
        session.run_turn("go")
        shell, replaced, missed, found, many = tool_messages(session)
    finally:
        session.close()
    assert scripted.requests[0]["tools"][0]["function"]["name"] == "read_file"
    assert shell.startswith("Command: git status --short; echo done >&2; exit 3\nDirectory: (root)\nStdout: ")
    assert "?? notes.txt" in shell and "Exit Code: 3\n" in shell and shell.endswith("Process Group PGID: (none)")
    assert (workspace / "notes.txt").read_text() == "x = new\ny = new\n"
    assert replaced == f"Successfully modified file: {root}/notes.txt (2 replacements)."
    assert missed.startswith(f"Failed to edit, 0 occurrences found for old_string in {root}/calc.py.")
    assert (
        found == 'Found 2 matches for pattern "new" in the workspace directory (filter: "*.txt"):\n---\n'
        "File: notes.txt\nL1: x = new\nL2: y = new\n---"
    )
    assert many.startswith(f"--- {root}/calc.py ---\n\ndef add(a, b):") and f"--- {root}/notes.txt ---\n\n" in many
    header = read_trajectory(session.recording_path).meta
    assert header.tool_profile == "sii-cli"


def test_replace_count_mismatch_and_shell_exit_keep_the_shell(workspace: Path) -> None:
    ctx = ToolContext(workspace)
    registry = profile_registry("sii-cli")
    try:
        (workspace / "a.txt").write_text("k k k\n")
        result = registry.dispatch("replace", {"file_path": "a.txt", "old_string": "k", "new_string": "j"}, ctx)
        assert result.text == "Failed to edit, Expected 1 occurrence but found 3 for old_string in file: a.txt"
        assert (workspace / "a.txt").read_text() == "k k k\n"
        registry.dispatch("run_shell_command", {"command": "cd /; export GONE=1; exit 4"}, ctx)
        after = registry.dispatch("run_shell_command", {"command": "pwd; echo ${GONE:-unset}"}, ctx).text
        assert f"Stdout: {workspace.resolve()}\nunset\n" in after  # a fresh `bash -c` each time, as in Gemini CLI
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("read_file", {"absolute_path": "/etc/passwd"}),
        ("write_file", {"file_path": "/tmp/sii-profile-escape.txt", "content": "x"}),
        ("replace", {"file_path": "../outside.txt", "old_string": "", "new_string": "x"}),
        ("list_directory", {"path": "/etc"}),
        ("search_file_content", {"pattern": "root", "path": "/etc"}),
        ("read_many_files", {"paths": ["../*"]}),
        ("run_shell_command", {"command": "pwd", "directory": "../.."}),
        ("run_shell_command", {"command": "pwd", "directory": "/etc"}),
        ("read_file", {"absolute_path": "link/passwd"}),
    ],
)
def test_paths_outside_the_workspace_are_refused(workspace: Path, name: str, arguments: dict) -> None:
    (workspace / "link").symlink_to("/etc")
    ctx = ToolContext(workspace)
    try:
        result = profile_registry("sii-cli").dispatch(name, arguments, ctx)
    finally:
        ctx.close()
    assert result.is_error or "root:" not in result.text
    assert "root:x" not in result.text and not Path("/tmp/sii-profile-escape.txt").exists()
    assert not (workspace.parent / "outside.txt").exists()


def test_approval_judges_profile_tools_as_native(workspace: Path) -> None:
    registry = profile_registry("sii-cli")
    policy = ApprovalPolicy(mode="yolo", deny=["git push"], workspace=workspace)
    shell = registry.get("run_shell_command")
    for command in ("git push origin main", "echo hi && git push", "git -C . push"):
        arguments = {"command": command}
        refusal = policy.check(shell, tool_call(shell.name, arguments))
        assert refusal and "git push" in refusal, command
    asked: list[Question] = []

    def ask(question: Question) -> Answer:
        asked.append(question)
        return Answer(allow=False, go_on=True)

    context = ToolContext(workspace)
    policy = ApprovalPolicy(mode="ask", ask=ask, workspace=workspace)
    policy.preview = lambda tool, call: tool.preview(call["function"]["arguments"], context) if tool.preview else None
    root = str(workspace.resolve())
    calls = [
        ("write_file", {"file_path": f"{root}/new.py", "content": "print(1)\n"}),
        ("replace", {"file_path": f"{root}/calc.py", "old_string": "a - b", "new_string": "a + b"}),
        ("save_memory", {"fact": "tabs, not spaces"}),
    ]
    try:
        for name, arguments in calls:
            tool = registry.get(name)
            refusal = policy.check(tool, tool_call(name, arguments))
            assert refusal and "declined" in refusal
    finally:
        context.close()
    assert "+print(1)" in asked[0].preview and "+    return a + b" in asked[1].preview
    assert "+## Gemini Added Memories" in asked[2].preview
    auto = ApprovalPolicy(mode="auto-edit", workspace=workspace)
    protected = {"file_path": f"{root}/.git/hooks/pre-commit", "content": "x"}
    refusal = auto.check(registry.get("write_file"), tool_call("write_file", protected))
    assert refusal and "protected" in refusal


def _record_native(scripted: ScriptedServer, workspace: Path) -> Path:
    scripted.script = [
        Reply(
            "",
            [
                call("read_file", {"path": "calc.py", "offset": 2}),
                call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"}),
                call("run_shell", {"command": "git diff --stat"}),
                call("grep", {"pattern": "add", "glob": "*.py"}),
                call("list_directory", {"path": "."}),
            ],
        ),
        Reply("fixed"),
    ]
    session = open_session(scripted, workspace, "sii")
    try:
        session.run_turn("fix add")
    finally:
        session.close()
    return session.recording_path


def _exported(home: Path, profile: str) -> list[dict]:
    out = home / f"out-{profile}.jsonl"
    export(home / "recordings", "jsonl", out, Selection(tool_names=profile, tool_schemas=profile_schemas(profile)))
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("target", ["sii-cli", "sii"])
def test_export_renames_to_either_profile(
    scripted: ScriptedServer, workspace: Path, sii_home: Path, target: str
) -> None:
    source = "sii" if target == "sii-cli" else "sii-cli"
    if source == "sii":
        _record_native(scripted, workspace)
    else:
        root = str(workspace.resolve())
        scripted.script = [
            Reply(
                "",
                [
                    call("read_file", {"absolute_path": f"{root}/calc.py", "offset": 1}),
                    call("replace", {"file_path": f"{root}/calc.py", "old_string": "a - b", "new_string": "a + b"}),
                    call("run_shell_command", {"command": "git diff --stat", "description": "diff"}),
                    call("search_file_content", {"pattern": "add", "include": "*.py"}),
                ],
            ),
            Reply("fixed"),
        ]
        session = open_session(scripted, workspace, "sii-cli")
        session.run_turn("fix add")
        session.close()
    schemas = {schema["function"]["name"]: schema for schema in profile_schemas(target)}
    (sample,) = _exported(sii_home, target)
    calls = [c["function"] for m in sample["messages"] for c in m.get("tool_calls") or []]
    assert calls and {c["name"] for c in calls} <= set(schemas)
    assert [tool["function"]["name"] for tool in sample["tools"]] == list(schemas)
    for function in calls:
        arguments = function["arguments"]
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        jsonschema.validate(arguments, schemas[function["name"]]["function"]["parameters"])
    first = json.loads(calls[0]["arguments"]) if isinstance(calls[0]["arguments"], str) else calls[0]["arguments"]
    if target == "sii-cli":
        assert first == {"absolute_path": str(workspace.resolve() / "calc.py"), "offset": 1}
    else:
        assert first == {"path": "calc.py", "offset": 2}


def test_gemini_cli_prompt_has_the_workspace_facts(workspace: Path) -> None:
    (workspace / "AGENTS.md").write_text("Use tabs.\n")
    prompt = system_prompt(workspace, "gemini-cli")
    assert prompt.startswith("You are an interactive CLI agent specializing in software engineering tasks.")
    assert "# Git Repository" in prompt and "# Outside of Sandbox" in prompt and "${" not in prompt
    assert f"I'm currently working in the directory: {workspace}" in prompt and prompt.endswith(
        "---\n\n# AGENTS.md\nUse tabs."
    )
    assert "'search_file_content'" in prompt and "absolute_path" in prompt


def test_headless_flag_offers_the_profile(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
    import sys

    scripted.script = [Reply("", [call("run_shell_command", {"command": "echo hi"})]), Reply("ok")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sii",
            "-p",
            "go",
            "--yolo",
            "--tool-profile",
            "sii-cli",
            "--base-url",
            scripted.base_url,
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    names = [tool["function"]["name"] for tool in scripted.requests[0]["tools"]]
    assert "run_shell_command" in names and "run_shell" not in names
    assert scripted.requests[0]["messages"][0]["content"].startswith("You are an interactive CLI agent")
    assert scripted.requests[1]["messages"][-1]["content"].startswith("Command: echo hi\nDirectory: (root)\nStdout: hi")


def test_repl_runs_the_profile_and_asks_with_its_names(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    from tests.test_faces import spawn_repl

    root = str(workspace.resolve())
    edit = {"file_path": f"{root}/calc.py", "old_string": "a - b", "new_string": "a + b"}
    scripted.script = [Reply("", [call("replace", edit)]), Reply("Fixed it.")]
    child = spawn_repl(scripted.base_url, workspace, "--tool-profile", "sii-cli")
    try:
        child.sendline("fix add")
        child.expect("\\+    return a \\+ b")  # the diff preview, then the question
        child.expect("Allow replace\\?")
        child.sendline("y")
        child.expect("Fixed it.")
        child.expect("›")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "a + b" in (workspace / "calc.py").read_text()
    assert (
        scripted.requests[1]["messages"][-1]["content"]
        == f"Successfully modified file: {root}/calc.py (1 replacements)."
    )
    (recording,) = (sii_home / "recordings").glob("*.jsonl")
    assert read_trajectory(recording).meta.tool_profile == "sii-cli"


def test_project_config_may_choose_a_profile_but_not_an_unknown_one(
    scripted: ScriptedServer, workspace: Path, sii_home: Path
) -> None:
    (workspace / ".sii").mkdir()
    (workspace / ".sii" / "config.toml").write_text('tool_profile = "sii-cli"\n')
    settings = Settings.resolve(base_url=scripted.base_url, workspace=workspace)
    assert settings.tool_profile == "sii-cli" and settings.prompt_profile == "gemini-cli" and not settings.refused
    (workspace / ".sii" / "config.toml").write_text('tool_profile = "evil"\nsystem_prompt_profile = "x"\n')
    settings = Settings.resolve(base_url=scripted.base_url, workspace=workspace)
    assert settings.tool_profile == "sii" and {refusal.key for refusal in settings.refused} == {
        "tool_profile",
        "system_prompt_profile",
    }
    user = sii_home / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('tool_profile = "gemini"\n')
    with pytest.raises(ValueError, match=r"tool_profile .* must be one of sii, sii-cli"):
        Settings.resolve(base_url=scripted.base_url, workspace=workspace)


def test_prompt_profile_can_be_chosen_apart_from_the_tools(scripted: ScriptedServer, workspace: Path) -> None:
    scripted.script = [Reply("ok")]
    settings = Settings.resolve(base_url=scripted.base_url, workspace=workspace, mode="yolo")
    settings.tool_profile, settings.system_prompt_profile = "sii-cli", "sii"
    session = Session(settings, face="test", ask=None, notify=lambda text: None)
    try:
        session.run_turn("hi")
    finally:
        session.close()
    request = scripted.requests[0]
    assert request["messages"][0]["content"].startswith("You are sii")
    assert "replace" in [tool["function"]["name"] for tool in request["tools"]]


@pytest.mark.parametrize(
    "arguments",
    [
        {"command": "echo a\n) ; git push ; (\necho b"},  # closing the subshell the command runs in
        {"command": "echo hi", "directory": "sub && git push"},
        {"command": "echo hi", "directory": "$(git push)"},
        {"command": "git push &"},  # a background job is judged too
    ],
)
def test_deny_rules_see_what_the_profile_shell_would_run(workspace: Path, arguments: dict) -> None:
    (workspace / "sub").mkdir()
    tool = profile_registry("sii-cli").get("run_shell_command")
    policy = ApprovalPolicy(mode="yolo", deny=["git push"], workspace=workspace)
    refusal = policy.check(tool, tool_call(tool.name, arguments))
    directory = arguments.get("directory", "")
    if "git push" in arguments["command"]:
        assert refusal and "git push" in refusal
    else:  # a directory is one quoted word: it can name no command, so nothing matches and nothing is hidden
        assert refusal is None and shlex.quote(directory) in (tool.shell_command(arguments) or "")
        ctx = ToolContext(workspace)
        try:
            result = profile_registry("sii-cli").dispatch(tool.name, arguments, ctx)
        finally:
            ctx.close()
        assert result.is_error and "does not exist" in result.text


def test_user_shell_command_in_the_repl_works_under_the_profile(scripted: ScriptedServer, workspace: Path) -> None:
    from rich.console import Console

    from sii.repl import run_user_shell

    session = open_session(scripted, workspace, "sii-cli")
    console = Console(file=io.StringIO(), width=100)
    try:
        note = run_user_shell(console, session, "echo typed-by-user")
    finally:
        session.close()
    assert note is not None and "typed-by-user\n[exit code 0]" in note


def test_read_many_files_is_bounded_and_skips_binary(workspace: Path) -> None:
    for index in range(30):
        (workspace / f"big{index:02}.txt").write_text("y" * 1000 + "\n" + "z\n" * 3000)
    (workspace / "blob.txt").write_bytes(b"\0\1\2binary")
    ctx = ToolContext(workspace)
    registry = profile_registry("sii-cli")
    try:
        result = registry.dispatch("read_many_files", {"paths": ["*.txt"]}, ctx)
        binary = registry.dispatch("read_many_files", {"paths": ["blob.txt", "big00.txt"]}, ctx)
    finally:
        ctx.close()
    assert len(result.text) < 2 * MAX_READ_CHARS and "more files not read" in result.text
    assert result.data["files"] < 30 and binary.data == {"files": 1, "skipped": ["blob.txt"]}
    assert result.text.startswith(f"--- {workspace.resolve()}/big")
