"""Start-up and exit, timed from outside as a user or an SDK sees them.

1. `sii -p` against the scripted server: spawn to the first chat request the server receives, and the last byte
   of the answer to the process's exit; beside mini-swe-agent's `mini` spawned the same way on the same server
   (its task answered with its submit command, so it too ends after one reply).
2. The SDK bridge (`python -m sii.bridge`), sent a query at once as the SDK does: spawn to its `ready` status,
   and stdin closed (after `completed`) to exit; beside a bare Python that answers the same lines and exits at end
   of input, spawned and timed the same way.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import BIN, Row
from sii.testing import Reply, ScriptedServer, call

GOAL_S = 0.5
REPO = Path(__file__).resolve().parent.parent
MINI_SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
# The same protocol with nothing behind it: one request in, `ready` and `completed` out, exit at end of input.
BARE_BRIDGE = (
    "import sys; sys.stdin.readline(); "
    'print(\'{"type": "status", "status": "ready"}\\n{"type": "completed"}\', flush=True); '
    "sys.stdin.read()"
)


def _headless(
    command: Callable[[str], list[str]], reply: Reply, workdir: Path, env: dict[str, str]
) -> tuple[float, float]:
    """(spawn to the first chat request, end of the answer to exit) of one run of `command(base_url)` against a
    fresh server."""
    with ScriptedServer([reply]) as server:
        started = time.monotonic()
        process = subprocess.Popen(
            command(server.base_url),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=120)
        finally:
            process.kill()
        ended = time.monotonic()
        assert process.returncode == 0 and server.posted_at, (command, process.returncode)
        return server.posted_at[0] - started, ended - server.answered_at[-1]


def _env() -> dict[str, str]:
    """This checkout's code first, whatever the venv's editable install points at."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def headless_rows(workdir: Path, repeats: int) -> list[Row]:
    env = _env()
    mini_home = workdir.parent / "mini-home"  # its config and trajectory, kept out of the user's own
    mini_env = {
        **env,
        "MSWEA_GLOBAL_CONFIG_DIR": str(mini_home),
        "MSWEA_SILENT_STARTUP": "1",
        "MSWEA_CONFIGURED": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "MSWEA_COST_TRACKING": "ignore_errors",
    }

    def sii(base_url: str) -> list[str]:
        return [str(BIN / "sii"), "-p", "say done", "--yolo", "--base-url", base_url]

    def mini(base_url: str) -> list[str]:
        config = [
            "-c",
            "mini.yaml",
            "-c",
            f"model.model_kwargs.api_base={base_url}",
            "-c",
            "model.model_kwargs.api_key=x",
        ]
        task = ["-y", "--exit-immediately", "-m", "openai/scripted-model", "-t", "say done"]
        return [str(BIN / "mini"), *task, *config, "-o", str(mini_home / "run.traj.json")]

    mini_reply = Reply("", [call("bash", {"command": MINI_SUBMIT})])
    sii_start, sii_exit = _medians([_headless(sii, Reply("done."), workdir, env) for _ in range(repeats)])
    # mini spends seconds importing litellm (4-7 s a run here): two runs keep its rows to seconds
    mini_runs = [_headless(mini, mini_reply, workdir, mini_env) for _ in range(min(repeats, 2))]
    mini_start, mini_exit = _medians(mini_runs)
    goal = f"<= {GOAL_S:g} s"
    return [
        Row("`sii -p` spawn to first request (s)", sii_start, "mini-swe-agent", mini_start, goal),
        Row("`sii -p` answer to exit (s)", sii_exit, "mini-swe-agent", mini_exit, goal),
    ]


def _bridge(command: list[str], workdir: Path) -> tuple[float, float]:
    """(spawn to the `ready` status of a query written at once, stdin closed after `completed` to exit)."""
    query = {
        "protocol_version": "1.0.0",
        "request_id": "q1",
        "method": "query",
        "params": {"prompt": "say done", "options": {"cwd": str(workdir), "yolo": True}},
    }
    with ScriptedServer([Reply("done.")]) as server:
        env = {**_env(), "SII_OPENAI_BASE_URL": server.base_url}
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(query).encode() + b"\n")
            process.stdin.flush()
            ready = 0.0
            for line in process.stdout:
                event = json.loads(line)
                if event.get("type") == "status" and event.get("status") == "ready":
                    ready = time.monotonic()
                if event.get("type") in ("completed", "error"):
                    break
            assert ready and event["type"] == "completed", event
            process.stdin.close()
            closed = time.monotonic()
            process.wait(timeout=60)
            return ready - started, time.monotonic() - closed
        finally:
            process.kill()
            process.wait()
            process.stdout.close()


def bridge_rows(workdir: Path, repeats: int) -> list[Row]:
    bridge = [sys.executable, "-m", "sii.bridge"]
    bare = [sys.executable, "-c", BARE_BRIDGE]
    sii_ready, sii_exit = _medians([_bridge(bridge, workdir) for _ in range(repeats)])
    bare_ready, bare_exit = _medians([_bridge(bare, workdir) for _ in range(repeats)])
    goal = f"<= {GOAL_S:g} s"
    return [
        Row("bridge spawn to ready (s)", sii_ready, "bare python", bare_ready, goal),
        Row("bridge stdin closed to exit (s)", sii_exit, "bare python", bare_exit, goal),
    ]


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    return headless_rows(workdir, repeats) + bridge_rows(workdir, repeats)
