"""`make loop` in small, so the closed loop cannot silently break: teacher sessions through `sii -p`, judged
and labelled, a few LoRA steps on the successes, the adapter published to the real vLLM CPU server, and the
held-out split run with the base model and with the adapter. It fails when the adapter does not learn to make
valid tool calls (a masking, template or packing change that stops learning), not only when something crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model_server.bundled import BUNDLED_MODEL_NAME
from model_server.launcher import ServerRegistry, stop_server

pytestmark = pytest.mark.vllm
ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--kinds", "create", "--train", "4", "--heldout", "2", "--steps", "4", "--lr", "2e-3", "--max-length", "512"]


@pytest.mark.timeout(900)  # ~3 minutes on two idle cores; a bound, for a machine shared with other work
def test_the_loop_teaches_the_bundled_model_to_call_tools(tmp_path: Path, bundled_model_dir: Path) -> None:
    numbers, workdir = tmp_path / "loop.json", tmp_path / "loop"
    argv = [sys.executable, "bench/loop.py", *SMALL, "--mistake-every", "4", "--workdir", workdir, "--json", numbers]
    servers = ServerRegistry(workdir / "home" / "server")
    try:
        done = subprocess.run(list(map(str, argv)), cwd=ROOT, capture_output=True, text=True, timeout=840)
    finally:  # a loop killed on its timeout leaves its detached server behind
        if (left := servers.running(BUNDLED_MODEL_NAME)) is not None:
            stop_server(left)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(numbers.read_text())

    assert result["teacher"] == {"sessions": 4, "success": 3, "fail": 1}  # the judge caught the planted mistake
    assert result["finetune"]["sessions"] == 3  # and the failed session was not trained on
    assert result["finetune"]["final_loss"] < result["finetune"]["first_loss"]
    base, tuned = result["base"], result["tuned"]
    assert base["subtasks"] == tuned["subtasks"] == 2
    assert tuned["tool_call_validity"] > base["tool_call_validity"], result
    assert tuned["valid_call_share"] > base["valid_call_share"], result
    assert "sii loop" in done.stdout and "tool-call validity" in done.stdout
    assert not (workdir / "home" / "server" / f"{BUNDLED_MODEL_NAME}.json").exists()  # its server was stopped
