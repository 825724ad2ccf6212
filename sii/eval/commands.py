"""`sii eval run TASKS...` and `sii eval compare A B`. `register` adds the `eval` parser to sii's command
line; each action sets `handler(args) -> exit code` (recordings.cli's convention). `eval run` takes the agent
flags (sii.agent_flags: `sii --base-url ... eval run` or `eval run --base-url ...`); the agent runs unattended, in
yolo mode unless a flag names another."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from recordings.cli import EXIT_OK, SubParsers, reports
from sii.agent_flags import agent_flags, flag_values, settings_from_args
from sii.config import sii_home
from sii.eval.metrics import __doc__ as METRICS_DOC
from sii.eval.tasks import JUDGES

if TYPE_CHECKING:
    from rich.console import Console

# Exit codes of `eval run`: 0 finished (whatever the verdicts), 2 could not run or go on, 130 Ctrl-C.
JUDGE_API_KEY_ENV = "SII_JUDGE_API_KEY"
ERRORS = (
    "sii.eval.runner.EvalError",
    "sii.eval.judges.JudgeError",
    "sii.eval.official.OfficialError",
    "sii.transport.ModelError",
    "sii.session.SessionError",
)
reported = reports("eval", *ERRORS)


def register(commands: SubParsers) -> None:
    parser = commands.add_parser("eval", help="replay AgencyBench-style tasks with judges and feedback rounds")
    actions = parser.add_subparsers(dest="eval_action", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run",
        parents=[agent_flags(inherited=True)],
        help="run tasks: subtasks in one conversation, judged, with feedback for up to R rounds",
        description=METRICS_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("tasks", nargs="*", type=Path, metavar="TASKS", help="task files or folders to search")
    run.add_argument("--rounds", type=int, default=3, help="attempts per subtask, feedback between (default 3)")
    run.add_argument(
        "--judge", choices=JUDGES, default="command", help="for subtasks whose task file names none (default command)"
    )
    run.add_argument("--judge-base-url", help=f"the llm judge's OpenAI-compatible server (key: ${JUDGE_API_KEY_ENV})")
    run.add_argument("--judge-model", help="the llm judge's model (default: the server's first)")
    run.add_argument("--out", type=Path, help="the run folder (default: $SII_HOME/evals/<time>)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help="go on with an interrupted run")
    run.add_argument("--task", action="append", dest="task_ids", metavar="ID", help="only this task (repeatable)")
    run.add_argument(
        "--subtask", action="append", type=int, dest="subtask_numbers", metavar="N", help="only subtask N (repeatable)"
    )
    run.add_argument("--time-budget", type=float, metavar="SECONDS", help="agent time per subtask, then it fails")
    run.add_argument(
        "--official",
        type=Path,
        metavar="SCENARIO_DIR",
        help="run an AgencyBench v2 scenario folder through its own eval_task.py (sii behind its SDK): sii writes "
        "the folder's .env (server, model, key, SII_AUTH_TYPE=USE_OPENAI, --rounds as MAX_SUBTASK_ATTEMPTS) and "
        "reads its meta_eval.json into the report. Without conda (or CONDA_ENV_NAME) the harness runs its checks "
        "(make, g++, python3...) from PATH, so put the tools the scenario needs there",
    )
    run.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter for eval_task.py; it needs sii-agent-sdk (default: the one running sii)",
    )
    run.set_defaults(handler=run_command)

    compare = actions.add_parser("compare", help="two runs side by side, e.g. a base model and its fine-tune")
    compare.add_argument("a", type=Path, help="a report.json or run folder")
    compare.add_argument("b", type=Path, help="a report.json or run folder")
    compare.set_defaults(handler=compare_command)


@reported
def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.eval.report import REPORT_FILE, RunReport, render
    from sii.eval.runner import EvalError, Runner
    from sii.eval.tasks import load_tasks

    console = Console()
    if args.official is not None:
        return official_command(args, console)
    run_dir = None
    try:
        if args.resume and args.tasks:
            raise EvalError("give TASKS for a new run or --resume RUN_DIR, not both")
        if args.resume:
            run_dir = args.resume
            report = RunReport.load(run_dir)
        elif args.tasks:
            run_dir = args.out or sii_home() / "evals" / time.strftime("%Y%m%d-%H%M%S")
            if (run_dir / REPORT_FILE).exists():
                raise EvalError(f"{run_dir} holds a run already; continue it with --resume {run_dir}")
            if args.rounds < 1:
                raise EvalError("--rounds must be at least 1")
            report = RunReport(
                {
                    "tasks": [str(path.resolve()) for path in args.tasks],
                    "rounds": args.rounds,
                    "judge": args.judge,
                    "judge_base_url": args.judge_base_url,
                    "judge_model": args.judge_model,
                    "allowed_tools": flag_values(args)["allowed_tools"],  # kept by --resume
                }
            )
        else:
            raise EvalError("give task files or folders to run, or --resume RUN_DIR")
        tasks = load_tasks([Path(path) for path in report.config["tasks"]])
        report.config["max_steps"] = flag_values(args)["max_steps"]
        report.config["time_budget"] = args.time_budget
        run_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"eval run folder: {run_dir}")
        runner = Runner(
            run_dir,
            report,
            tasks,
            console,
            settings_for=lambda workspace: settings_from_args(args, workspace, mode="yolo"),
            judge_api_key=os.environ.get(JUDGE_API_KEY_ENV),
        )
        runner.run(args.task_ids, args.subtask_numbers)
    except KeyboardInterrupt as stop:
        if run_dir is not None:
            stop.add_note(f"go on with: sii eval run --resume {run_dir}")
        raise
    except Exception as exc:
        if run_dir and (run_dir / REPORT_FILE).exists():
            exc.add_note(f"(go on later with --resume {run_dir})")
        raise
    render(report, console)
    console.print(f"report: {run_dir / REPORT_FILE}")
    return EXIT_OK


def official_command(args: argparse.Namespace, console: Console) -> int:
    """`eval run --official SCENARIO_DIR`; exit 2 when the scenario cannot run or its results cannot be read."""
    from sii.eval.official import OfficialError, render_scenario_scores, resolve_agent, run_official
    from sii.eval.report import REPORT_FILE, render

    if args.tasks or args.resume:
        raise OfficialError("give --official SCENARIO_DIR alone, without TASKS or --resume")
    if args.rounds < 1:
        raise OfficialError("--rounds must be at least 1")
    settings = settings_from_args(args, args.official.expanduser().resolve())
    run_dir = args.out or sii_home() / "evals" / time.strftime("%Y%m%d-%H%M%S")
    max_turns = flag_values(args)["max_steps"]
    report, code = run_official(
        args.official, resolve_agent(settings), args.python, args.rounds, max_turns, run_dir, console.print
    )
    render(report, console)
    render_scenario_scores(report, console)
    if code:
        console.print(f"[yellow]{args.official} eval_task.py exited {code}[/yellow]")
    console.print(f"report: {run_dir / REPORT_FILE}")
    return EXIT_OK


@reported
def compare_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.eval.report import RunReport, render_compare

    a, b = RunReport.load(args.a), RunReport.load(args.b)
    render_compare(a, b, Console(), names=(str(args.a), str(args.b)))
    return EXIT_OK
