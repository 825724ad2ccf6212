"""`sii eval run --official`: a scenario folder in AgencyBench v2's layout, whose own eval_task.py drives sii
through the real sii-agent-sdk (one SDK session, a new workspace per attempt, as v2's harnesses do), against the
scripted server; sii writes its .env and reads its meta_eval.json into the report."""

from __future__ import annotations

import json
import stat
import textwrap
from pathlib import Path

import pytest

from recordings.store import read_trajectory, recordings_dir
from recordings.validate import problems
from tests.scripted_server import MODEL, Reply, ScriptedServer, call
from tests.test_eval import eval_cli, report_of

pytest.importorskip("sii_agent_sdk")
pytestmark = pytest.mark.timeout(120)

# The shape of v2's eval_task.py: its own .env reader, EnvConfig's keys, one SiiAgentSession whose every attempt
# runs in a fresh attempt folder (cwd), the next attempt starting from a copy of the last, meta_eval.json written
# under <scenario>/<model>/.
HARNESS = textwrap.dedent(
    """
    import asyncio, json, os, re, shutil
    from pathlib import Path

    try:
        from sii_agent_sdk import AssistantMessage, TextBlock, SiiAgentOptions, SiiAgentSession as SDKAgentSession
    except ImportError:
        AssistantMessage = TextBlock = SiiAgentOptions = SDKAgentSession = None

    SCRIPT_DIR = Path(__file__).resolve().parent
    CHECKS = {"subtask1": ("hello.txt", "hi"), "subtask2": ("two.txt", "2")}

    def load_env(path):
        values = {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip().strip('"')
                os.environ[key.strip()] = values[key.strip()]
        return values

    def options(values, cwd):
        env = {k: v for k, v in values.items() if v}
        env.setdefault("SII_OPENAI_BASE_URL", values["SII_AGENT_API_BASE_URL"])
        env.setdefault("SII_OPENAI_API_KEY", values["SII_AGENT_API_KEY"])
        return SiiAgentOptions(
            system_prompt="", max_turns=int(values.get("SII_MAX_TURNS", "20")), auth_type=values["SII_AUTH_TYPE"],
            cwd=str(cwd), yolo=True, allowed_tools=[], model=values["SII_TARGET_MODEL"], env=env,
            enable_data_upload=False,
        )

    async def send(session, prompt, opts):
        texts = []
        async for message in session.run(prompt, options=opts):
            if isinstance(message, AssistantMessage):
                texts += [block.text for block in message.content if isinstance(block, TextBlock)]
        return "\\n".join(texts)

    def main():
        values = load_env(SCRIPT_DIR / ".env")
        description = json.loads((SCRIPT_DIR / "description.json").read_text())
        model = re.sub(r"[^A-Za-z0-9._-]", "_", values["SII_TARGET_MODEL"]).strip("._-") or "model"
        run_root = SCRIPT_DIR / model
        attempts_allowed = int(values.get("MAX_SUBTASK_ATTEMPTS", "3"))
        session = SDKAgentSession(options(values, SCRIPT_DIR))
        meta = {"model": model, "scorer": "rubric", "max_attempts": attempts_allowed, "subtasks": []}
        previous = SCRIPT_DIR / "source"
        for index in range(1, description["subtask_count"] + 1):
            name = f"subtask{index}"
            summaries, feedback = [], ""
            for attempt in range(1, attempts_allowed + 1):
                workspace = run_root / name / "workspace" / f"attempt_{attempt:02d}"
                shutil.copytree(previous, workspace)
                try:
                    output = asyncio.run(send(session, description[name] + feedback, options(values, workspace)))
                except Exception as exc:
                    output = f"[AGENT] Agent invocation failed: {exc}"
                path, wanted = CHECKS[name]
                target = workspace / path
                passed = target.is_file() and target.read_text() == wanted
                score = 10.0 if passed else 0.0
                feedback = "" if passed else f"\\n\\n{path} must hold {wanted!r}."
                rubric = {"subtask": name, "score": score, "passed": passed, "loss": None, "notes": []}
                summaries.append({"subtask": name, "attempt_index": attempt, "score": score, "rubric": rubric,
                                  "workspace": str(workspace), "agent_output": output, "feedback": feedback})
                previous = workspace
                if score >= 9.9:
                    break
            best = max(summaries, key=lambda item: item["score"])
            meta["subtasks"].append({"name": name, "attempts": summaries, "best_score": best["score"],
                                     "best_attempt": best["attempt_index"]})
        (run_root / "meta_eval.json").write_text(json.dumps(meta, indent=2))

    if __name__ == "__main__":
        main()
    """
)


def scenario(tmp_path: Path, harness: str = HARNESS) -> Path:
    folder = tmp_path / "Code" / "scenario9"
    (folder / "source").mkdir(parents=True)
    (folder / "source" / "README").write_text("start here\n")
    description = {"subtask_count": 2, "subtask1": "Write hello.txt containing hi.", "subtask2": "Write two.txt."}
    (folder / "description.json").write_text(json.dumps(description))
    (folder / "eval_task.py").write_text(harness)
    return folder


def test_an_official_v2_scenario_runs_through_its_own_harness_into_sii_report(
    scripted: ScriptedServer, tmp_path: Path, sii_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SII_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # stale: the .env sii writes must win
    scripted.script = [
        Reply("", [call("write_file", {"path": "hello.txt", "content": "bye"})]),
        Reply("Wrote it."),
        Reply("", [call("write_file", {"path": "hello.txt", "content": "hi"})]),
        Reply("Fixed it."),
        Reply("", [call("write_file", {"path": "two.txt", "content": "2"})]),
        Reply("Done."),
    ]
    folder = scenario(tmp_path)
    (folder / ".env").write_text("CONDA_ENV_NAME=\nSII_TARGET_MODEL=someone-elses\n")
    run_dir = tmp_path / "run"
    assert eval_cli("run", "--official", folder, "--out", run_dir, "--base-url", scripted.base_url) == 0

    env = (folder / ".env").read_text().splitlines()
    assert "CONDA_ENV_NAME=" in env and "SII_AUTH_TYPE=USE_OPENAI" in env and f"SII_TARGET_MODEL={MODEL}" in env
    assert f"SII_AGENT_API_BASE_URL={scripted.base_url}" in env and "SII_TARGET_MODEL=someone-elses" not in env
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    attempts = folder / MODEL / "subtask1" / "workspace"
    assert [(attempts / a / "hello.txt").read_text() for a in ("attempt_01", "attempt_02")] == ["bye", "hi"]

    report = report_of(run_dir)
    (task,) = report["tasks"]
    assert task["id"] == "Code-scenario9" and task["model"] == MODEL
    assert [(s["number"], s["status"], s["rounds_used"]) for s in task["subtasks"]] == [
        (1, "passed", 2),
        (2, "passed", 1),
    ]
    metrics = report["metrics"]
    assert metrics["FTFC"] == pytest.approx(0.5) and metrics["SR@3"] == 1.0
    assert metrics["RC@3"] == pytest.approx((0.5 + 1.0) / 2)
    own = report["config"]["scenario_scores"]["subtasks"]
    assert [(v["name"], v["scores"], v["best_score"]) for v in own] == [
        ("subtask1", [0.0, 10.0], 10.0),
        ("subtask2", [10.0], 10.0),
    ]

    (recording,) = recordings_dir(sii_home).glob("*.jsonl")  # one SDK session, one sii session
    assert task["session_id"] == recording.stem and task["recording"] == str(recording)
    trajectory = read_trajectory(recording)
    assert problems(trajectory) == []
    workspaces = [e["workspace"] for e in trajectory.events if e["type"] == "retune"]
    assert workspaces == [
        str((attempts / "attempt_02").resolve()),
        str((folder / MODEL / "subtask2" / "workspace" / "attempt_01").resolve()),
    ]


def test_official_refuses_what_it_cannot_run_or_read(
    scripted: ScriptedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def official(folder: Path, *extra: str) -> str:
        code = eval_cli("run", "--official", folder, "--out", tmp_path / "run", "--base-url", scripted.base_url, *extra)
        assert code == 2
        return capsys.readouterr().err

    assert "has no eval_task.py" in official(tmp_path)
    no_sdk = tmp_path / "no-sdk"
    no_sdk.mkdir()
    (no_sdk / "python").write_text("#!/bin/sh\nexit 1\n")  # an interpreter without sii-agent-sdk
    (no_sdk / "python").chmod(0o755)
    assert "cannot import sii_agent_sdk" in official(scenario(no_sdk), "--python", str(no_sdk / "python"))
    crashing = scenario(tmp_path / "crash", harness="raise SystemExit(3)\n")
    assert "eval_task.py exited 3 without writing meta_eval.json" in official(crashing)
    garbled = scenario(tmp_path / "garbled", harness=f"open('{MODEL}/meta_eval.json', 'w').write('[1]')\n")
    (garbled / MODEL).mkdir()
    assert "has no subtasks list" in official(garbled)
    wrong_score = {"subtasks": [{"name": "subtask1", "attempts": [{"score": "10"}]}]}
    (garbled / MODEL / "meta_eval.json").unlink()
    (garbled / "eval_task.py").write_text(f"open('{MODEL}/meta_eval.json', 'w').write({json.dumps(wrong_score)!r})\n")
    assert "score is not a number" in official(garbled)
    # A .env that links elsewhere would receive the key: refused, the target untouched.
    target = tmp_path / "bashrc"
    target.write_text("alias ls=ls\n")
    (crashing / ".env").unlink()
    (crashing / ".env").symlink_to(target)
    assert "is a symbolic link" in official(crashing)
    assert target.read_text() == "alias ls=ls\n"
    (crashing / ".env").unlink()
    # A model name with a line break would smuggle a key into the .env (here: another auth type).
    assert "cannot be written to .env" in official(crashing, "--model", "m\nSII_AUTH_TYPE=USE_SII")
    assert not (crashing / ".env").exists()  # refused before anything was written
