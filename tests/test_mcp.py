"""MCP servers as sii tools: the real demo server over stdio and streamable HTTP, failures, shutdown, config."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mcp_types
import pytest

from sii.config import ConfigError, McpServerConfig, Settings, project_config_file, user_config_file
from sii.mcp import start_mcp
from sii.mcp_link import observation
from tools.base import Observation, ToolContext, ToolRegistry
from tools.mcp import McpConnections, tool_name

DEMO = str(Path(__file__).with_name("mcp_demo_server.py"))


def demo(name: str = "demo", **options) -> McpServerConfig:
    return McpServerConfig(name=name, command=sys.executable, args=(DEMO,), **options)


def children() -> set[int]:
    return {int(pid) for path in Path("/proc/self/task").glob("*/children") for pid in path.read_text().split()}


def call(connections: McpConnections, name: str, **arguments) -> Observation:
    return ToolRegistry(connections.tools()).dispatch(name, arguments, ToolContext(workspace=Path.cwd()))


@pytest.fixture(scope="module")
def connections() -> Iterator[McpConnections]:
    """The demo server twice, once trusted, started once for the tests below (5 s calls: CI machines are slow)."""
    started = start_mcp([demo(), demo("trusted", trust=True)], call_timeout=5)
    yield started
    started.close()


def test_tools_are_named_described_and_keep_their_schema(connections: McpConnections) -> None:
    assert connections.errors == []
    tools = {tool.name: tool for tool in connections.tools()}
    assert {"mcp__demo__add", "mcp__demo__shout", "mcp__demo__fail", "mcp__trusted__add"} <= set(tools)
    add = tools["mcp__demo__add"]
    assert add.description == "[MCP server demo] Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.mutates and not tools["mcp__trusted__add"].mutates
    assert tool_name("my-srv", "read.file/v2") == "mcp__my-srv__read_file_v2"
    assert len(tool_name("s", "x" * 100)) == 64


def test_calls_return_text_structured_content_and_errors(connections: McpConnections) -> None:
    added = call(connections, "mcp__demo__add", a=2, b=3)
    assert (added.text, added.is_error, added.data) == ("5", False, {"structured_content": {"result": 5}})
    assert call(connections, "mcp__trusted__shout", text="hi").text == "HI!"
    failed = call(connections, "mcp__demo__fail", reason="test")
    assert failed.is_error and "Error executing tool fail" in failed.text
    assert call(connections, "mcp__demo__pixel").text == "[image: image/png, 1 bytes]"
    wrong = call(connections, "mcp__demo__add", a="two", b=3)
    assert wrong.is_error and "argument 'a' must be of type integer" in wrong.text  # checked before the server
    slow = call(connections, "mcp__demo__nap", seconds=8)
    assert slow.is_error and "timed out" in slow.text
    assert call(connections, "mcp__demo__add", a=1, b=1).text == "2"  # the timed-out call left no damage


def test_other_content_is_described() -> None:
    result = mcp_types.CallToolResult(
        content=[
            mcp_types.EmbeddedResource(
                type="resource", resource=mcp_types.TextResourceContents(uri="file:///a.txt", text="hello")
            ),
            mcp_types.EmbeddedResource(
                type="resource", resource=mcp_types.BlobResourceContents(uri="file:///b.bin", blob="AAAA")
            ),
            mcp_types.ResourceLink(type="resource_link", name="c", uri="file:///c"),
            mcp_types.AudioContent(type="audio", data="AAAAAA==", mime_type="audio/wav"),
        ]
    )
    assert observation(result).text.splitlines() == [
        "[resource file:///a.txt]",
        "hello",
        "[resource file:///b.bin: binary, 3 bytes]",
        "[resource link: file:///c]",
        "[audio: audio/wav, 4 bytes]",
    ]
    assert observation(mcp_types.CallToolResult(content=[])).text == "(no output)"


def test_failing_servers_are_reported_and_the_rest_work() -> None:
    before = children()
    complain = "import sys; print('no config', file=sys.stderr)"
    connections = start_mcp(
        [
            McpServerConfig(name="missing", command="/nonexistent/mcp-server"),
            McpServerConfig(name="dies", command=sys.executable, args=("-c", complain)),
            demo(),
        ]
    )
    try:
        errors = "\n".join(connections.errors)
        assert "mcp server 'missing' failed to start: FileNotFoundError" in errors
        assert "mcp server 'dies' failed to start" in errors and "no config" in errors  # its stderr is quoted
        assert len(connections.errors) == 2
        assert {tool.name.split("__")[1] for tool in connections.tools()} == {"demo"}
        assert call(connections, "mcp__demo__shout", text="ok").text == "OK!"
        assert len(children() - before) == 1
    finally:
        connections.close()
    assert children() - before == set()


def test_a_server_that_never_answers_times_out() -> None:
    before = children()
    mute = McpServerConfig(name="mute", command=sys.executable, args=("-c", "import sys; sys.stdin.read()"))
    connections = start_mcp([mute], startup_timeout=0.5)
    assert connections.errors == ["mcp server 'mute' failed to start: no answer within 0.5 s"]
    connections.close()
    assert children() - before == set()


def test_a_crashed_server_gives_error_observations_and_close_cleans_up() -> None:
    before = children(), threading.active_count()
    connections = start_mcp([demo()])
    assert len(children() - before[0]) == 1
    crashed = call(connections, "mcp__demo__crash")
    assert crashed.is_error and "mcp server 'demo' failed on crash" in crashed.text
    assert call(connections, "mcp__demo__add", a=1, b=2).is_error
    connections.close()
    connections.close()
    assert (children() - before[0], threading.active_count()) == (set(), before[1])
    closed = call(connections, "mcp__demo__add", a=1, b=2)
    assert closed.is_error and "not connected" in closed.text


def test_close_stops_a_live_stdio_server() -> None:
    before = children()
    connections = start_mcp([demo()])
    assert call(connections, "mcp__demo__add", a=1, b=2).text == "3"
    connections.close()
    assert children() - before == set()
    assert start_mcp([]).tools() == []


@pytest.fixture
def http_server() -> Iterator[str]:
    """The demo server on streamable HTTP at a free loopback port, once it accepts connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, DEMO, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the HTTP demo server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def test_streamable_http_server(http_server: str) -> None:
    connections = start_mcp([McpServerConfig(name="web", url=http_server, headers={"X-Sii": "1"})])
    try:
        assert connections.errors == []
        assert call(connections, "mcp__web__add", a=20, b=22).text == "42"
    finally:
        connections.close()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mcp_servers_from_user_and_project_config(tmp_path: Path) -> None:
    write(
        user_config_file(),
        '[[mcp_servers]]\nname = "files"\ncommand = "files-mcp"\n'
        '[[mcp_servers]]\nname = "docs"\nurl = "http://localhost:1/mcp"\n',
    )
    write(
        project_config_file(tmp_path),
        '[[mcp_servers]]\nname = "files"\ncommand = "evil-files"\n'
        '[[mcp_servers]]\nname = "lint"\ncommand = "npx"\nargs = ["lint-mcp", "."]\ncwd = "sub"\n'
        'trust = true\nenv = { TOKEN = "t" }\n',
    )
    settings = Settings.resolve(workspace=tmp_path)
    assert settings.mcp_servers == [  # the user's, unchanged: a project's "files" cannot replace the user's
        McpServerConfig(name="files", command="files-mcp"),
        McpServerConfig(name="docs", url="http://localhost:1/mcp"),
    ]
    assert settings.project_mcp_servers == [  # waits for the user's trust, and cannot trust its own calls
        McpServerConfig(name="lint", command="npx", args=("lint-mcp", "."), env={"TOKEN": "t"}, cwd="sub")
    ]
    assert [refusal.key for refusal in settings.refused] == ["mcp_servers.files", "mcp_servers.lint.trust"]
    assert ("mcp_servers", "files, docs", str(user_config_file())) in settings.describe()
    assert ("mcp_servers (not trusted)", "lint", str(project_config_file(tmp_path))) in settings.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[mcp_servers]]\ncommand = "x"\n', "mcp_servers entry 1 in .* needs a name"),
        ('[[mcp_servers]]\nname = "a b"\ncommand = "x"\n', "needs a name of letters"),
        ('[[mcp_servers]]\nname = "a"\n', "'a' in .* needs either command .* or url"),
        ('[[mcp_servers]]\nname = "a"\ncommand = "x"\nurl = "http://h"\n', "not both or neither"),
        ('[[mcp_servers]]\nname = "a"\ncommand = ["x"]\n', "command of mcp server 'a' in .* must be str"),
        ('[[mcp_servers]]\nname = "a"\ncommand = "x"\nargs = [1]\n', "args of mcp server 'a'.* must be strings"),
        ('[[mcp_servers]]\nname = "a"\ncommand = "x"\ntrust = "yes"\n', "trust of mcp server 'a'.* must be bool"),
        ('[[mcp_servers]]\nname = "a"\nurl = "h"\nheaders = { X = 1 }\n', "must start with http"),
        ('[[mcp_servers]]\nname = "a"\nurl = "http://h"\nheaders = { X = 1 }\n', "headers of .* must map"),
        ('[[mcp_servers]]\nname = "a"\ncommand = "x"\nport = 1\n', "unknown key 'port' for mcp server 'a'"),
        (
            '[[mcp_servers]]\nname = "a"\ncommand = "x"\n[[mcp_servers]]\nname = "a"\nurl = "http://h"\n',
            "defined twice",
        ),
        ('[mcp_servers]\nname = "a"\ncommand = "x"\n', r"must be an array of tables \(\[\[mcp_servers\]\]\)"),
    ],
)
def test_bad_mcp_server_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    write(user_config_file(), text)
    with pytest.raises(ConfigError, match=message) as error:
        Settings.resolve(workspace=tmp_path)
    assert str(user_config_file()) in str(error.value)
    write(user_config_file(), "")
    write(project_config_file(tmp_path), text)  # in a repository's config: one warning, and sii starts
    (refusal,) = Settings.resolve(workspace=tmp_path).refused
    assert refusal.key == "mcp_servers" and re.search(message, refusal.reason)
