"""sii's overheads beside mini-swe-agent, measured in the same run on the same machine.

    make bench          (or: .venv/bin/python bench/run.py [--steps 50] [--repeats 5])

1. cold start: wall time of `sii --help` vs `mini --help` (median of N runs).
2. per-step overhead: an agent session of N tool-calling steps against the scripted OpenAI-compatible server
   (the model's latency is ~0, so what is left is the agent: request building, streaming, parsing, running
   `echo` in the shell, recording). sii runs a full Session (recorder on, persistent pexpect shell);
   mini-swe-agent runs its DefaultAgent with LitellmModel and LocalEnvironment (a subprocess per command).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scripted_server import Reply, ScriptedServer, call  # noqa: E402

BIN = Path(sys.executable).parent


def median_wall_time(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sii_per_step(steps: int, workdir: Path) -> float:
    from sii.config import Settings
    from sii.session import Session

    script = [Reply("", [call("run_shell", {"command": f"echo step {i}"})]) for i in range(steps)]
    with ScriptedServer([*script, Reply("done.")]) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workdir, max_steps=steps + 1)
        session = Session(settings, face="bench", approve=lambda tool, c: True, notify=lambda text: None)
        started = time.perf_counter()
        end = session.agent.run_turn("run the steps")
        elapsed = time.perf_counter() - started
        session.close()
    assert end.reason == "done" and end.steps == steps + 1, end
    return elapsed / (steps + 1)


def mini_per_step(steps: int, workdir: Path) -> float:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    os.environ.setdefault("MSWEA_CONFIGURED", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
    with tempfile.TemporaryDirectory(prefix="sii-bench-") as tmp:
        os.environ["SII_HOME"] = str(Path(tmp) / "home")
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        rows = [
            (
                "cold start (--help), s",
                median_wall_time([str(BIN / "sii"), "--help"], args.repeats),
                median_wall_time([str(BIN / "mini"), "--help"], args.repeats),
            ),
            (
                f"per agent step ({args.steps} tool steps), ms",
                sii_per_step(args.steps, workdir) * 1000,
                mini_per_step(args.steps, workdir) * 1000,
            ),
        ]
        shutil.rmtree(workdir, ignore_errors=True)
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "sii", "mini-swe-agent", "sii / mini", title=f"sii bench ({sys.platform}, same run)")
    for name, ours, theirs in rows:
        table.add_row(name, f"{ours:.3f}", f"{theirs:.3f}", f"{ours / theirs:.2f}x")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
