"""The real protocol: vLLM's CPU build serving the bundled SmolLM2-135M with sii's tool template.
A 135M model is tested on the shape of its answers, not on their wisdom."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from model_server.bundled import BUNDLED_MODEL_NAME
from model_server.launcher import ServerInfo
from recordings.store import read_trajectory, recordings_dir
from sii.client import ModelClient
from tools.default import default_registry

pytestmark = pytest.mark.vllm
SHORT = {"temperature": 0, "max_tokens": 24}


def test_models_lists_the_bundled_model_and_its_window(vllm_server: ServerInfo) -> None:
    client = ModelClient(vllm_server.base_url)
    assert client.model == BUNDLED_MODEL_NAME
    assert client.context_window == 8192


def test_plain_chat_completion(vllm_server: ServerInfo) -> None:
    body = {"model": BUNDLED_MODEL_NAME, "messages": [{"role": "user", "content": "Say hello."}], **SHORT}
    reply = httpx.post(f"{vllm_server.base_url}/chat/completions", json=body, timeout=120).json()
    assert reply["choices"][0]["message"]["content"].strip()
    assert reply["usage"]["completion_tokens"] <= SHORT["max_tokens"]


def test_streamed_completion_arrives_in_pieces(vllm_server: ServerInfo) -> None:
    pieces: list[str] = []
    completion = ModelClient(vllm_server.base_url).chat(
        [{"role": "user", "content": "Count from one to ten."}], [], SHORT, on_text=pieces.append
    )
    assert len(pieces) > 3
    assert completion.message["content"] == "".join(pieces)
    assert completion.finish_reason in ("stop", "length")
    assert completion.usage["completion_tokens"] == SHORT["max_tokens"] or completion.finish_reason == "stop"


def test_required_tool_choice_comes_back_as_a_parsed_tool_call(vllm_server: ServerInfo) -> None:
    tools = default_registry().schemas()
    completion = ModelClient(vllm_server.base_url).chat(
        [{"role": "user", "content": "Show the git status of this repository."}],
        tools,
        {"temperature": 0, "max_tokens": 100, "tool_choice": "required"},
    )
    assert completion.message["content"] is None
    (first, *_) = completion.message["tool_calls"]
    assert first["id"] and first["type"] == "function"
    assert first["function"]["name"] in {tool["function"]["name"] for tool in tools}
    # The 135M model tends to ramble inside the arguments until max_tokens; then they stay a raw string
    # (the tool answers it with a JSON error), otherwise they are decoded to an object.
    arguments = first["function"]["arguments"]
    if completion.finish_reason == "length":
        assert isinstance(arguments, str) and arguments.startswith("{")
    else:
        assert completion.finish_reason == "tool_calls" and isinstance(arguments, dict)


def test_sii_reuses_the_embedded_server_and_records(vllm_server: ServerInfo, vllm_home: Path, workspace: Path) -> None:
    env = {**os.environ, "SII_HOME": str(vllm_home)}
    result = subprocess.run(
        [sys.executable, "-m", "sii", "-p", "Say hello in one word.", "--max-steps", "1"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode in (0, 3), result.stderr  # 3: the step limit, if the model chose a tool
    assert f"Using the embedded model server at {vllm_server.base_url}" in result.stderr
    (path,) = recordings_dir(vllm_home).glob("*.jsonl")
    trajectory = read_trajectory(path)
    assert trajectory.meta.model == BUNDLED_MODEL_NAME and trajectory.meta.base_url == vllm_server.base_url
    assert trajectory.meta.sampling["max_tokens"] == 512
    assert trajectory.meta.chat_template == "sii/smollm2_tools.jinja"
    assert [m["role"] for m in trajectory.messages][:3] == ["system", "user", "assistant"]


def test_starting_the_embedded_server_tells_its_phases_and_its_log(
    vllm_server: ServerInfo, vllm_start_notes: list[str], vllm_home: Path
) -> None:
    notes = "\n".join(vllm_start_notes)
    assert "Starting the embedded model server" in notes and "1/3 preparing the bundled model" in notes
    assert f"2/3 starting vLLM; its log: {vllm_home / 'server' / (BUNDLED_MODEL_NAME + '.log')}" in notes
    assert "3/3 vLLM is loading the model…" in notes  # a CPU start takes well over the 10 s between reports
    assert notes.endswith(f"Using the embedded model server at {vllm_server.base_url}")


def test_the_servers_sockets_live_in_its_own_folder(vllm_server: ServerInfo) -> None:
    """vLLM's ZeroMQ sockets go to a folder of this server's, not the system temp folder, where a stopped or
    killed server would leave them behind."""
    assert vllm_server.rpc_dir is not None
    assert any(Path(vllm_server.rpc_dir).iterdir()), "vLLM put its sockets elsewhere"
    assert Path(vllm_server.rpc_dir).parent == Path(tempfile.gettempdir())
