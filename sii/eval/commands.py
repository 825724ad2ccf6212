"""`sii eval run TASKS...` and `sii eval compare A B`. `register` adds the `eval` parser to sii's command
line; each action sets `handler(args) -> exit code`. The agent's server and model come from the usual
settings (config, SII_BASE_URL/SII_MODEL, `sii --base-url ... eval run`, or `eval run --base-url`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sii.config import sii_home
from sii.eval.metrics import __doc__ as METRICS_DOC
from sii.eval.tasks import JUDGES

if TYPE_CHECKING:
    from rich.console import Console

# Exit codes of `eval run`: 0 finished (whatever the verdicts), 2 could not run or go on, 130 Ctrl-C.
JUDGE_API_KEY_ENV = "SII_JUDGE_API_KEY"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="replay AgencyBench-style tasks with judges and feedback rounds")
    actions = parser.add_subparsers(dest="eval_action", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run",
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
    run.add_argument("--max-steps", type=int, dest="eval_max_steps", metavar="N", help="model calls per attempt")
    run.add_argument("--time-budget", type=float, metavar="SECONDS", help="agent time per subtask, then it fails")
    run.add_argument("--base-url", dest="agent_base_url", help="the agent's server (default: the usual settings)")
    run.add_argument("--model", dest="agent_model", help="the agent's model (default: the usual settings)")
    run.add_argument(
        "--allowed-tools",
        action="append",
        dest="agent_allowed_tools",
        metavar="NAMES",
        help="offer the agent only these tools (as sii --allowed-tools; kept by --resume)",
    )
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


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.client import ModelError
    from sii.eval.judges import JudgeError
    from sii.eval.report import REPORT_FILE, RunReport, render
    from sii.eval.runner import EvalError, Runner
    from sii.eval.tasks import TaskError, load_tasks
    from sii.session import SessionError

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
                    "allowed_tools": args.agent_allowed_tools or getattr(args, "allowed_tools", None),
                }
            )
        else:
            raise EvalError("give task files or folders to run, or --resume RUN_DIR")
        tasks = load_tasks([Path(path) for path in report.config["tasks"]])
        report.config["max_steps"] = args.eval_max_steps or getattr(args, "max_steps", None)
        report.config["time_budget"] = args.time_budget
        run_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"eval run folder: {run_dir}")
        runner = Runner(
            run_dir,
            report,
            tasks,
            console,
            base_url=args.agent_base_url or getattr(args, "base_url", None),
            model=args.agent_model or getattr(args, "model", None),
            judge_api_key=os.environ.get(JUDGE_API_KEY_ENV),
        )
        runner.run(args.task_ids, args.subtask_numbers)
    except KeyboardInterrupt:
        if run_dir is not None:
            print(f"\nsii eval: interrupted; go on with: sii eval run --resume {run_dir}", file=sys.stderr)
        return 130
    except (EvalError, TaskError, JudgeError, ModelError, SessionError, ValueError) as exc:
        hint = f" (go on later with --resume {run_dir})" if run_dir and (run_dir / REPORT_FILE).exists() else ""
        print(f"sii eval: error: {exc}{hint}", file=sys.stderr)
        return 2
    render(report, console)
    console.print(f"report: {run_dir / REPORT_FILE}")
    return 0


def official_command(args: argparse.Namespace, console: Console) -> int:
    """`eval run --official SCENARIO_DIR`; exit 2 when the scenario cannot run or its results cannot be read."""
    from sii.client import ModelError
    from sii.config import Settings
    from sii.eval.official import OfficialError, render_scenario_scores, resolve_agent, run_official
    from sii.eval.report import REPORT_FILE, render

    try:
        if args.tasks or args.resume:
            raise OfficialError("give --official SCENARIO_DIR alone, without TASKS or --resume")
        if args.rounds < 1:
            raise OfficialError("--rounds must be at least 1")
        base_url = args.agent_base_url or getattr(args, "base_url", None)
        model = args.agent_model or getattr(args, "model", None)
        settings = Settings.resolve(base_url, model, args.official.expanduser().resolve())
        run_dir = args.out or sii_home() / "evals" / time.strftime("%Y%m%d-%H%M%S")
        max_turns = args.eval_max_steps or getattr(args, "max_steps", None)
        report, code = run_official(
            args.official, resolve_agent(settings), args.python, args.rounds, max_turns, run_dir, console.print
        )
    except KeyboardInterrupt:
        return 130
    except (OfficialError, ModelError, ValueError) as exc:
        print(f"sii eval: error: {exc}", file=sys.stderr)
        return 2
    render(report, console)
    render_scenario_scores(report, console)
    if code:
        console.print(f"[yellow]{args.official} eval_task.py exited {code}[/yellow]")
    console.print(f"report: {run_dir / REPORT_FILE}")
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.eval.report import RunReport, render_compare

    try:
        a, b = RunReport.load(args.a), RunReport.load(args.b)
    except ValueError as exc:
        print(f"sii eval: error: {exc}", file=sys.stderr)
        return 2
    render_compare(a, b, Console(), names=(str(args.a), str(args.b)))
    return 0
