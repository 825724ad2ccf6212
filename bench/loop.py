"""`make loop`: the closed loop, end to end on real parts, with a number at the end.

1. tasks    a generated family with known answers (sii/eval/family.py): train and held-out splits, each task
            checked by the command judge, in the task format `sii eval run` replays;
2. teacher  a scripted teacher (sii/testing.py's OpenAI-compatible server) solves the train tasks through real
            headless `sii -p` sessions (tools, recording, redaction all real); the command judge labels each
            recording success or fail (`sii recordings label`). The teacher errs on purpose on every Nth task,
            so the labels decide what is trained;
3. finetune `sii finetune` (LoRA on the bundled SmolLM2-135M) on the successes, then `sii finetune publish`
            loads the adapter into a LoRA-enabled vLLM CPU server;
4. eval     `sii eval run` on the held-out split with the base model and with the adapter (same server), then
            `sii eval compare`.

Sessions are offered only the tools the reference solutions call (`--allowed-tools`), so samples stay short.
Everything lives in its own SII_HOME under --workdir; the server it starts is stopped at the end.

    make loop     (or: .venv/bin/python bench/loop.py [--train 12] [--heldout 9] [--steps 24] [--json out.json])
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finetune.runs import list_runs  # noqa: E402
from model_server.bundled import BUNDLED_MODEL_NAME  # noqa: E402
from model_server.launcher import ServerRegistry, stop_server  # noqa: E402
from sii.eval.family import KINDS, FamilyTask, Step, generate, tools_used, write_tasks  # noqa: E402
from sii.eval.judges import CommandJudge, Submission  # noqa: E402
from sii.eval.report import RunReport  # noqa: E402
from sii.eval.tasks import load_task  # noqa: E402
from sii.testing import Reply, ScriptedServer, call  # noqa: E402

RUN_NAME = "loop"
SHOWN = re.compile(r"subtask \d+ round \d+:|^saved |Adapter |Starting the|\{'loss'|^\s*\d+%")  # progress to echo
STAGE_TIMEOUT_S = 1800
SUMMARY_KEYS: tuple[str, ...] = ("SR@1", "FTFC", "tool_call_validity", "valid_call_share", "replies")
SUMMARY_KEYS += ("calling_replies", "valid_call_replies", "solved", "subtasks", "seconds")


@dataclass
class Loop:
    """The loop's folder, its SII_HOME, and what each stage measured."""

    workdir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    def sii(self, stage: str, *argv: str | Path, echo: bool = True, threads: int | None = None) -> str:
        """Run `sii ARGV` as a user would (its own process, this checkout, the loop's SII_HOME); its output goes
        to logs/<stage>.log, progress lines to the terminal. Returns stdout; a failure stops the loop."""
        env = {**os.environ, "SII_HOME": str(self.home), "PYTHONPATH": str(ROOT)}
        for variable in ("SII_BASE_URL", "SII_MODEL", "SII_API_KEY"):
            env.pop(variable, None)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        log = self.workdir / "logs" / f"{stage}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "sii", *map(str, argv)]
        with open(log, "a") as handle:
            handle.write(f"$ {' '.join(command)}\n")
            handle.flush()
            done = subprocess.run(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=handle,
                text=True,
                timeout=STAGE_TIMEOUT_S,
            )
            handle.write(done.stdout)
        if echo:
            for line in done.stdout.splitlines():
                if SHOWN.search(line):
                    print(f"  {line.strip()}", flush=True)
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"loop: `sii {' '.join(map(str, argv))}` exited {done.returncode}; {log}:\n{tail}")
        return done.stdout

    def timed(self, stage: str, started: float) -> None:
        self.seconds[stage] = time.monotonic() - started
        print(f"[{stage}] {self.seconds[stage]:.1f} s", flush=True)


def spoiled(solution: tuple[Step, ...]) -> list[Step]:
    """The teacher's deliberate mistake: the last file it writes has the wrong content."""
    *head, last = solution
    return [*head, Step(last.tool, {**last.arguments, "content": last.arguments["content"].upper()})]


def teach(loop: Loop, tasks: list[FamilyTask], files: list[Path], tools: str, mistake_every: int) -> None:
    """Each train task solved by the scripted teacher in a real `sii -p` session, judged, and labelled."""
    judge, passed = CommandJudge(), 0
    with ScriptedServer() as teacher:
        for number, (task, path) in enumerate(zip(tasks, files, strict=True), 1):
            root = loop.workdir / "teacher" / task.id
            if (path.parent / "ws").is_dir():
                shutil.copytree(path.parent / "ws", root)
            root.mkdir(parents=True, exist_ok=True)
            steps = spoiled(task.solution) if mistake_every and number % mistake_every == 0 else task.solution
            teacher.script = [Reply("", [call(s.tool, s.arguments)]) for s in steps] + [Reply(task.answer)]
            argv = ["-p", task.prompt, "--base-url", teacher.base_url, "--yolo", "--allowed-tools", tools]
            out = loop.sii("teacher", *argv, "--max-steps", "8", "--output-format", "json", "-C", root, echo=False)
            result = json.loads(out.strip().splitlines()[-1])
            (subtask,) = load_task(path).subtasks
            verdict = judge.judge(Submission(subtask, subtask.checks, result.get("result") or "", root, root))
            outcome = "success" if verdict.passed else "fail"
            passed += verdict.passed
            loop.sii("teacher", "recordings", "label", result["session_id"], outcome, "--note", f"loop {task.id}")
    loop.facts["teacher"] = {"sessions": len(tasks), "success": passed, "fail": len(tasks) - passed}


def training_threads() -> int:
    """Torch's threads for training: all cores on an idle machine, one on a busy one, where threads that wait
    for a core spin (measured on two shared cores: a step 3-5x faster with one thread than with two)."""
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= cores else cores


def finetune(loop: Loop, steps: int, lr: float, max_length: int) -> Path:
    flags = ["--label", "success", "--out", RUN_NAME, "--max-steps", steps, "--lr", lr, "--max-length", max_length]
    threads = training_threads()
    loop.sii("finetune", "finetune", *map(str, flags), "--save-steps", str(steps + 1), threads=threads)
    run = next(run for run in list_runs(loop.home) if run.manifest and run.name.startswith(f"{RUN_NAME}-v"))
    assert run.manifest is not None
    data, metrics = run.manifest["data"], run.manifest["metrics"]
    loop.facts["finetune"] = {
        "run": run.name,
        "sessions": data["sessions"],
        "examples": data["examples"],
        "rows": data["rows"],
        "trained_tokens_per_pass": data["trained_tokens"],
        "steps": metrics["steps"],
        # loss-bearing tokens over the steps run: per pass, times the passes (one packed row per step)
        "trained_tokens": round(data["trained_tokens"] * metrics["steps"] / max(data["rows"], 1)),
        "first_loss": metrics["first_loss"],
        "final_loss": metrics["final_loss"],
        "lora_rank": run.manifest["hyperparameters"]["lora_rank"],
        "lr": lr,
        "threads": threads,
    }
    return run.path


def evaluate(loop: Loop, heldout: Path, model: str, base_url: str, tools: str, max_steps: int) -> RunReport:
    out = loop.workdir / "eval" / model
    flags = ["--rounds", "1", "--max-steps", str(max_steps), "--base-url", base_url, "--model", model]
    loop.sii(f"eval-{model}", "eval", "run", heldout, *flags, "--allowed-tools", tools, "--out", out)
    return RunReport.load(out)


def summary(loop: Loop, base: RunReport, tuned: RunReport) -> dict[str, Any]:
    ma, mb = base.metrics(), tuned.metrics()
    return {
        "base": {k: ma[k] for k in SUMMARY_KEYS},
        "tuned": {k: mb[k] for k in SUMMARY_KEYS},
        "seconds": loop.seconds,
        **loop.facts,
    }


def render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    base, tuned, tune, teacher = result["base"], result["tuned"], result["finetune"], result["teacher"]
    table = Table("metric (held-out split)", "base", "tuned", "tuned − base", title="sii loop")
    for label, key in (
        ("SR@1", "SR@1"),
        ("FTFC", "FTFC"),
        ("tool-call validity", "tool_call_validity"),
        ("valid-call share", "valid_call_share"),
    ):
        table.add_row(label, f"{base[key]:.3f}", f"{tuned[key]:.3f}", f"{tuned[key] - base[key]:+.3f}")
    for label, key in (("solved", "solved"), ("replies", "replies"), ("replies calling tools", "calling_replies")):
        table.add_row(
            label,
            f"{base[key]}/{base['subtasks']}" if key == "solved" else str(base[key]),
            f"{tuned[key]}/{tuned['subtasks']}" if key == "solved" else str(tuned[key]),
            "",
        )
    console = Console(width=120)
    console.print(table)
    stages = Table("stage", "what", "wall s", title="stages")
    tasks = result["tasks"]
    stages.add_row(
        "tasks",
        f"{tasks['train']} train / {tasks['heldout']} held-out ({', '.join(tasks['kinds'])}); tools: {tasks['tools']}",
        f"{result['seconds']['tasks']:.1f}",
    )
    stages.add_row(
        "teacher",
        f"{teacher['sessions']} `sii -p` sessions: {teacher['success']} success, {teacher['fail']} fail (judged)",
        f"{result['seconds']['teacher']:.1f}",
    )
    stages.add_row(
        "finetune",
        f"LoRA r{tune['lora_rank']} lr {tune['lr']:g}, torch threads {tune['threads']}: {tune['sessions']} sessions, "
        f"{tune['steps']} steps, "
        f"{tune['trained_tokens']:,} trained tokens, loss {tune['first_loss']:.3f} → {tune['final_loss']:.3f}",
        f"{result['seconds']['finetune']:.1f}",
    )
    stages.add_row("publish", f"{tune['run']} on a LoRA-enabled vLLM (CPU)", f"{result['seconds']['publish']:.1f}")
    for name, values in (("eval base", base), ("eval tuned", tuned)):
        stages.add_row(
            name,
            f"{values['subtasks']} held-out tasks, agent {values['seconds']:.1f} s",
            f"{result['seconds'][name]:.1f}",
        )
    console.print(stages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=12, help="train tasks (default 12)")
    parser.add_argument("--heldout", type=int, default=9, help="held-out tasks (default 9)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"task kinds, in turn (default {','.join(KINDS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=24, help="LoRA optimizer steps (default 24)")
    parser.add_argument("--lr", type=float, default=1e-3, help="LoRA learning rate (default 1e-3)")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per packed row (default 1024)")
    parser.add_argument("--mistake-every", type=int, default=6, help="the teacher errs on every Nth task (0: never)")
    parser.add_argument("--max-tokens", type=int, default=160, help="reply cap while evaluating (default 160)")
    parser.add_argument("--max-steps", type=int, default=4, help="model calls per held-out attempt (default 4)")
    parser.add_argument("--workdir", type=Path, help="where everything goes (default: a new temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--keep-server", action="store_true", help="leave the vLLM server running at the end")
    args = parser.parse_args(argv)

    loop = Loop((args.workdir or Path(tempfile.mkdtemp(prefix="sii-loop-"))).resolve())
    loop.home.mkdir(parents=True, exist_ok=True)
    print(f"loop folder: {loop.workdir}", flush=True)
    # Greedy decoding and a short reply cap for every session (the flags have no sampling settings).
    (loop.home / "config.toml").write_text(f"[sampling]\ntemperature = 0\nmax_tokens = {args.max_tokens}\n")

    started = time.monotonic()
    train, heldout = generate(args.seed, args.train, args.heldout, tuple(args.kinds.split(",")))
    train_files = write_tasks(train, loop.workdir / "tasks" / "train")
    write_tasks(heldout, loop.workdir / "tasks" / "heldout")
    tools = ",".join(tools_used(train))
    kinds = list(dict.fromkeys(task.kind for task in train))
    loop.facts["tasks"] = {"train": len(train), "heldout": len(heldout), "kinds": kinds, "tools": tools}
    loop.timed("tasks", started)

    started = time.monotonic()
    teach(loop, train, train_files, tools, args.mistake_every)
    loop.timed("teacher", started)

    started = time.monotonic()
    run = finetune(loop, args.steps, args.lr, args.max_length)
    loop.timed("finetune", started)

    servers = ServerRegistry(loop.home / "server")
    try:
        started = time.monotonic()
        loop.sii("publish", "finetune", "publish", run.name)
        info = servers.running(BUNDLED_MODEL_NAME)
        assert info is not None, "the server publish started is not running"
        loop.timed("publish", started)
        reports = []
        for stage, model in (("eval base", BUNDLED_MODEL_NAME), ("eval tuned", run.name)):
            started = time.monotonic()
            reports.append(
                evaluate(loop, loop.workdir / "tasks" / "heldout", model, info.base_url, tools, args.max_steps)
            )
            loop.timed(stage, started)
    finally:
        if not args.keep_server and (info := servers.running(BUNDLED_MODEL_NAME)) is not None:
            stop_server(info)
            servers.forget(BUNDLED_MODEL_NAME)
    base_dir, tuned_dir = (loop.workdir / "eval" / name for name in (BUNDLED_MODEL_NAME, run.name))
    print(loop.sii("compare", "eval", "compare", base_dir, tuned_dir, echo=False), flush=True)
    result = summary(loop, *reports)
    render(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"recordings, runs, reports and logs: {loop.workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
