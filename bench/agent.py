"""Agent overheads beside mini-swe-agent.

1. cold start: wall time of `sii --help` vs `mini --help`.
2. per-step overhead: an agent session of N tool-calling steps against the scripted OpenAI-compatible server
   (the model's latency is ~0, so what is left is the agent: request building, streaming, parsing, running
   `echo` in the shell, recording). sii runs a full Session (recorder on, persistent pexpect shell);
   mini-swe-agent runs its DefaultAgent with LitellmModel and LocalEnvironment (a subprocess per command).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import BIN, Row, median_command_time
from sii.testing import Reply, ScriptedServer, call


def sii_per_step(steps: int, workdir: Path) -> float:
    from sii.config import Settings
    from sii.session import Session

    script = [Reply("", [call("run_shell", {"command": f"echo step {i}"})]) for i in range(steps)]
    with ScriptedServer([*script, Reply("done.")]) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workdir, max_steps=steps + 1, mode="yolo")
        session = Session(settings, face="bench", ask=None, notify=lambda text: None)
        started = time.perf_counter()
        end = session.agent.run_turn("run the steps")
        elapsed = time.perf_counter() - started
        session.close()
    assert end.reason == "done" and end.steps == steps + 1, end
    return elapsed / (steps + 1)


def mini_per_step(steps: int, workdir: Path) -> float:
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    os.environ.setdefault("MSWEA_CONFIGURED", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
    import litellm
    import yaml
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.config import builtin_config_dir
    from minisweagent.environments.local import LocalEnvironment
    from minisweagent.models.litellm_model import LitellmModel

    litellm.suppress_debug_info = True  # it prints a provider list per call for the unknown scripted model
    config = yaml.safe_load((builtin_config_dir / "default.yaml").read_text())
    script = [Reply("", [call("bash", {"command": f"echo step {i}"})]) for i in range(steps)]
    submit = Reply("", [call("bash", {"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"})])
    with ScriptedServer([*script, submit]) as server:
        model = LitellmModel(
            model_name="openai/scripted-model",
            model_kwargs={"api_base": server.base_url, "api_key": "unused"},
            cost_tracking="ignore_errors",
        )
        agent = DefaultAgent(model, LocalEnvironment(cwd=str(workdir)), **{**config["agent"], "step_limit": 0})
        started = time.perf_counter()
        result = agent.run("run the steps")
        elapsed = time.perf_counter() - started
    assert result.get("exit_status") == "Submitted" and agent.n_calls == steps + 1, (result, agent.n_calls)
    return elapsed / (steps + 1)


def rows(workdir: Path, steps: int, repeats: int) -> list[Row]:
    return [
        Row(
            "cold start of `--help` (s)",
            median_command_time([str(BIN / "sii"), "--help"], repeats),
            "mini-swe-agent",
            median_command_time([str(BIN / "mini"), "--help"], repeats),
        ),
        Row(
            f"agent step, {steps} tool calls (ms)",
            sii_per_step(steps, workdir) * 1000,
            "mini-swe-agent",
            mini_per_step(steps, workdir) * 1000,
        ),
    ]
