"""`sii serve --tensor-parallel N --pipeline-parallel M --nodes K`: vLLM's own parallelism flags on the command
line built for every model family the launcher knows, with its family flags intact; bad values refused."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from model_server.bundled import BUNDLED_MODEL_NAME
from model_server.launcher import (
    FAMILY_FLAGS,
    Parallel,
    ServerError,
    ServerInfo,
    family_flags,
    stop_server,
    vllm_command,
)

# Every family the launcher has flags for, the Coder variant of Qwen3-MoE, an unknown family, and the bundled model.
FAMILIES = [*FAMILY_FLAGS, "qwen3_moe coder", "mistral", BUNDLED_MODEL_NAME]


def model_folder(tmp_path: Path, family: str) -> Path:
    if family == BUNDLED_MODEL_NAME:
        folder = tmp_path / BUNDLED_MODEL_NAME
        folder.mkdir()
        return folder
    model_type, _, variant = family.partition(" ")
    folder = tmp_path / f"{model_type}-{variant or 'base'}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return folder


def value_of(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("gpu", [True, False])
def test_parallel_flags_reach_vllm_for_every_family(tmp_path: Path, family: str, gpu: bool) -> None:
    folder = model_folder(tmp_path, family)
    command = vllm_command(folder, "m", 8000, gpu, parallel=Parallel(tensor=4, pipeline=2))
    plain, parsers = vllm_command(folder, "m", 8000, gpu), family_flags(folder)
    assert parsers and plain[-len(parsers) :] == parsers
    parallel = ["--tensor-parallel-size", "4", "--pipeline-parallel-size", "2"]
    assert command == plain[: -len(parsers)] + parallel + parsers  # the rest unchanged, the parsers still last
    assert not [flag for flag in plain if flag.startswith("--") and ("parallel" in flag or "executor" in flag)]
    assert "--distributed-executor-backend" not in command  # one node: vLLM's own worker processes


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed here")
def test_several_nodes_run_vllm_on_ray(tmp_path: Path) -> None:
    command = vllm_command(model_folder(tmp_path, "qwen3"), "m", 8000, True, parallel=Parallel(8, 2, nodes=2))
    assert value_of(command, "--distributed-executor-backend") == "ray"


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed here")
def test_several_nodes_without_ray_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="needs Ray: `pip install ray`"):
        vllm_command(model_folder(tmp_path, "qwen3"), "m", 8000, True, parallel=Parallel(8, 2, nodes=2))


@pytest.mark.parametrize("parallel", [Parallel(tensor=0), Parallel(pipeline=-1), Parallel(nodes=0)])
def test_sizes_below_one_are_refused(tmp_path: Path, parallel: Parallel) -> None:
    with pytest.raises(ServerError, match="at least 1"):
        vllm_command(model_folder(tmp_path, "llama"), "m", 8000, True, parallel=parallel)


def test_sii_serve_refuses_a_bad_size_before_starting_anything(
    sii_home: Path, bundled_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recordings.cli import EXIT_ERROR
    from sii.cli import main

    assert main(["serve", str(bundled_model_dir), "--tensor-parallel", "0"]) == EXIT_ERROR
    assert "sii serve: error: --tensor-parallel, --pipeline-parallel and --nodes must be at least 1" in (
        capsys.readouterr().err
    )
    assert not list((sii_home / "server").glob("*.json"))  # nothing remembered as running


def test_stopping_a_server_removes_its_socket_folder(tmp_path: Path) -> None:
    """Also when the server is gone already (killed with the machine's other processes, or crashed)."""
    rpc = tmp_path / "sii-vllm-x"
    rpc.mkdir()
    (rpc / "0b98cbd1-fa33-45c8").write_text("")
    exited = subprocess.Popen(["true"])
    exited.wait()
    stop_server(ServerInfo(exited.pid, 1, "m", "/m", str(tmp_path / "log"), rpc_dir=str(rpc)))
    assert not rpc.exists()
