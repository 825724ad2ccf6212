"""What start-up and exit must not pay for: the MCP SDK (seconds of imports) when no MCP server is configured,
and the cycle collector's walk over every module at exit. Each check runs in a fresh interpreter, where
sys.modules and the atexit hooks are the process's own; timing itself belongs in bench/startup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer, call

REPO = Path(__file__).resolve().parent.parent
# Only needed once an MCP server is configured: the SDK, its protocol types, its HTTP client, sii's side of it;
# and asyncio, which `sii -p` and the bridge need for nothing else (the REPL's prompt_toolkit does use it).
MCP_SDK = ("mcp", "mcp_types", "httpx2", "sii.mcp_link")
MCP_ONLY = (*MCP_SDK, "asyncio")
# What only other commands (or resuming a session) need: `sii -p` and the REPL import none of them.
COMMAND_MODULES = ("sii.eval.commands", "sii.tasks.commands", "finetune.commands", "recordings.viewer_commands")


def python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with this checkout first on the path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd or REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def loaded_after(code: str, cwd: Path | None = None, watch: tuple[str, ...] = MCP_ONLY) -> set[str]:
    """Which of `watch` are imported once `code` has run."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {watch!r} if m in sys.modules]))"
    done = python(probe, cwd)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", ["sii.cli", "sii.session", "sii.bridge", "sii.headless", "sii.mcp"])
def test_importing_a_face_imports_no_mcp(module: str) -> None:
    assert loaded_after(f"import {module}") == set()


def test_the_repl_imports_no_mcp_sdk() -> None:
    assert loaded_after("import sii.repl", watch=MCP_SDK) == set()


def test_a_headless_run_without_mcp_servers_never_imports_the_sdk(workspace: Path) -> None:
    """Not at import, and not later either: building the session, a tool call, the answer and the close."""
    with ScriptedServer([Reply("", [call("list_directory", {"path": "."})]), Reply("done.")]) as server:
        code = (
            "from sii.cli import main\n"
            f"assert main(['-p', 'look around', '--yolo', '--base-url', {server.base_url!r}]) == 0\n"
        )
        assert loaded_after(code, workspace, watch=(*MCP_ONLY, *COMMAND_MODULES, "recordings.export")) == set()
        assert len(server.requests) == 2  # the run really went through the tool call to the answer


def test_a_session_with_an_mcp_server_still_imports_the_sdk(workspace: Path) -> None:
    """The lazy import happens where the servers start: a configured server's tools reach the model."""
    from sii.config import user_config_file
    from tests.test_mcp import DEMO

    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text(f'[[mcp_servers]]\nname = "demo"\ncommand = "{sys.executable}"\nargs = ["{DEMO}"]\n')
    with ScriptedServer([Reply("", [call("mcp__demo__add", {"a": 2, "b": 40})]), Reply("42.")]) as server:
        code = (
            f"from sii.cli import main\nassert main(['-p', 'add', '--yolo', '--base-url', {server.base_url!r}]) == 0\n"
        )
        assert loaded_after(code, workspace) == set(MCP_ONLY)
    assert "mcp__demo__add" in {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert server.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_0_mcp__demo__add",
        "content": "42",
    }


@pytest.mark.parametrize("module", ["sii.cli", "sii.bridge"])
def test_the_faces_leave_the_heap_to_the_os_at_exit(module: str) -> None:
    """A hook registered before the import runs after sii's (atexit is last in, first out): by then the heap is
    frozen, so the collector has nothing to walk while the interpreter tears down."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, flush=True))\n"
        f"import {module}\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "frozen at exit: True"


def test_a_prompt_or_the_repl_imports_no_other_command(workspace: Path) -> None:
    """`-p` and the REPL's command lines parse without the modules of eval, tasks, finetune and recordings, even
    where the prompt is a command's name."""
    for argv in (["-p", "eval", "--yolo"], ["--base-url", "http://127.0.0.1:9/v1"], []):
        code = f"from sii.cli import parse_args\nassert parse_args({argv!r}).command is None"
        assert loaded_after(code, workspace, watch=COMMAND_MODULES) == set()


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["eval", "compare", "a", "b"], "sii.eval.commands"),
        (["annotate"], "sii.tasks.commands"),
        (["--mode", "yolo", "tasks", "list"], "sii.tasks.commands"),
        (["recordings", "list"], "recordings.viewer_commands"),
    ],
)
def test_a_command_line_naming_a_command_parses_it_whole(argv: list[str], module: str) -> None:
    code = f"from sii.cli import parse_args\nassert callable(parse_args({argv!r}).handler)"
    assert module in loaded_after(code, watch=COMMAND_MODULES)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["evl"], "choose from 'serve', 'config', 'eval', 'tasks', 'annotate', 'finetune', 'recordings'"),
        (["tasks"], "sii tasks: error: the following arguments are required: ACTION"),
        (["eval", "run", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_errors_name_every_command_and_come_from_the_real_parser(argv: list[str], error: str) -> None:
    done = python(f"from sii.cli import main\nmain({argv!r})")
    assert done.returncode == 2 and error in done.stderr, done.stderr
