"""`sii tasks add | import | list | show | reject | from-git | review | progress` and `sii annotate`.
`register` adds both parsers to sii's command line; each action sets `handler(args) -> exit code` (recordings.cli's
convention: 0 done, 1 nothing to do, 2 error). `annotate` takes the agent flags and `from-git` the server flags
(sii.agent_flags), on the subcommand or before it (`sii --base-url ... tasks from-git`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from recordings.cli import EXIT_NOTHING, EXIT_OK, Handler, SubParsers, reports
from sii.agent_flags import agent_flags, server_flags, settings_from_args
from sii.config import Settings
from sii.tasks.from_git import CATEGORIES
from sii.tasks.pool import DEFAULT_POOL, STATUSES, Pool, Task, TaskError, find, new_task_id

ERRORS = ("sii.transport.ModelError", "sii.session.SessionError")  # TaskError is a ValueError
reported = reports("tasks", *ERRORS)

if TYPE_CHECKING:  # rich is imported where it is used: `sii --help` stays fast
    from rich.console import Console


def register(commands: SubParsers) -> None:
    tasks = commands.add_parser("tasks", help="the pool of tasks to annotate: add, mine from git, review, progress")
    actions = tasks.add_subparsers(dest="tasks_action", metavar="ACTION", required=True)

    def action(
        name: str, handler: Handler, help: str, parents: tuple[argparse.ArgumentParser, ...] = ()
    ) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help, parents=list(parents))
        parser.add_argument("--pool", default=DEFAULT_POOL, help="pool name or .jsonl path (default: default)")
        parser.set_defaults(handler=handler)
        return parser

    add = action("add", add_command, "add a hand-written task")
    add.add_argument("query", help="the request, as a developer would type it")
    add.add_argument("--category", choices=CATEGORIES)
    add.add_argument("--difficulty", choices=("easy", "medium", "hard"))
    add.add_argument("--repo", type=Path, help="annotate it in a worktree of this repository")
    add.add_argument("--at", dest="ref", default="HEAD", help="with --repo: the commit to start from (default HEAD)")

    imported = action("import", import_command, "add tasks from a JSONL file (one object with a query a line)")
    imported.add_argument("file", type=Path)

    listing = action("list", list_command, "list the pool's tasks")
    listing.add_argument("--status", choices=STATUSES)

    show = action("show", show_command, "a task in full, with its reference patch")
    show.add_argument("id", help="task id or unique prefix")

    reject = action("reject", reject_command, "reject a task: nobody will annotate it")
    reject.add_argument("id", help="task id or unique prefix")
    reject.add_argument("--note", help="why")

    mined = action(
        "from-git",
        from_git_command,
        "mine tasks from a local repository's merges and commits (--base-url/--model: the model that writes them)",
        parents=(server_flags(inherited=True),),
    )
    mined.add_argument("repo", type=Path, help="a local git repository")
    mined.add_argument("--range", dest="revision_range", metavar="A..B", help="revision range (default: HEAD)")
    mined.add_argument("--max-patch-tokens", type=int, default=1200, help="drop larger patches (default 1200)")
    mined.add_argument(
        "--tokenizer", help="count patch tokens with this tokenizer (folder or cached name; default ~4 chars/token)"
    )
    mined.add_argument(
        "--categories", type=_categories, help=f"keep only these, comma-separated: {','.join(CATEGORIES)}"
    )

    action("review", review_command, "accept, edit or reject mined tasks, each beside its reference patch")

    progress = actions.add_parser("progress", help="solved/open/rejected, tokens and time, by category")
    progress.add_argument("pool", nargs="?", default=DEFAULT_POOL, help="pool name or .jsonl path")
    progress.set_defaults(handler=progress_command)

    annotate = commands.add_parser(
        "annotate",
        parents=[agent_flags(inherited=True)],
        help="claim the next task and solve it with the agent, recorded",
    )
    annotate.add_argument("pool", nargs="?", default=DEFAULT_POOL, help="pool name or .jsonl path")
    annotate.add_argument("--task", dest="task_id", metavar="ID", help="this task instead of the next open one")
    annotate.add_argument("--test-command", help="run in the workspace after the session, e.g. 'pytest -q'")
    annotate.set_defaults(handler=annotate_command)


def _categories(value: str) -> set[str]:
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    if unknown := chosen - set(CATEGORIES):
        raise argparse.ArgumentTypeError(f"unknown categories {', '.join(sorted(unknown))}; from {CATEGORIES}")
    return chosen


def _add(pool: Pool, new: list[Task], console: Console) -> int:
    from rich.text import Text

    from sii.tasks.dedupe import duplicate_of

    added = 0
    with pool.editing() as tasks:
        for task in new:
            if twin := duplicate_of(task.query, [(t.id, t.query) for t in tasks if t.status != "rejected"]):
                console.print(Text(f"skipped, a near-duplicate of task {twin}: {task.query[:60]}", "yellow"))
                continue
            tasks.append(task)
            added += 1
            console.print(f"added {task.id}: {task.query[:70]}", highlight=False)
    return EXIT_OK if added else EXIT_NOTHING


@reported
def add_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.tasks.from_git import git

    task = Task(id=new_task_id(), query=args.query.strip(), category=args.category, difficulty=args.difficulty)
    if not task.query:
        raise TaskError("the query is empty")
    if args.repo:
        task.repo = str(args.repo.resolve())
        task.parent = git(args.repo, "rev-parse", "--verify", f"{args.ref}^{{commit}}").strip()
    return _add(Pool.named(args.pool), [task], Console())


@reported
def import_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    new = []
    for number, line in enumerate(args.file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            new.append(Task.from_dict({**data, "id": data.get("id") or new_task_id()}))
        except (json.JSONDecodeError, TypeError, AttributeError, TaskError) as exc:
            raise TaskError(f"{args.file} line {number}: {exc}") from exc
    return _add(Pool.named(args.pool), new, Console())


@reported
def list_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    grid = Table("id", "status", "category", "difficulty", "source", "query")
    for task in Pool.named(args.pool).tasks():
        if args.status and task.status != args.status:
            continue
        status = task.status if task.reviewed else f"{task.status} (unreviewed)"
        source = f"git {task.commit[:8]}" if task.source == "git" and task.commit else task.source
        grid.add_row(task.id, status, task.category or "-", task.difficulty or "-", source, task.query[:60])
    Console().print(grid)
    return EXIT_OK


@reported
def show_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.tasks.review import show

    console = Console()
    task = Pool.named(args.pool).get(args.id)
    show(task, console)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(task.created_at))
    console.print(f"status: {task.status}{'' if task.reviewed else ' (unreviewed)'} · created {when}", highlight=False)
    for label, value in (("note", task.note), ("solved by", task.solved_by), ("original query", task.original_query)):
        if value:
            console.print(f"{label}: {value}", highlight=False)
    for recording in task.sessions:
        console.print(f"recording: {recording}", highlight=False)
    return EXIT_OK


@reported
def reject_command(args: argparse.Namespace) -> int:
    with Pool.named(args.pool).editing() as tasks:
        task = find(tasks, args.id)
        task.status, task.note, task.reviewed = "rejected", args.note or task.note, True
    print(f"rejected {task.id}")
    return EXIT_OK


@reported
def from_git_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from sii.client import ModelClient, ModelError
    from sii.tasks.from_git import char_tokens, tokenizer_tokens
    from sii.tasks.harvest import harvest
    from sii.tasks.querygen import QueryWriter

    console = Console(stderr=True)
    count = tokenizer_tokens(args.tokenizer) if args.tokenizer else char_tokens
    settings = settings_from_args(args)
    base_url = settings.base_url or _running_embedded_server(settings)
    client = ModelClient(base_url, settings.model, settings.api_key)
    try:
        client.model  # noqa: B018 - fail now, before any mining, when the server is down
    except ModelError as exc:
        raise TaskError(f"the requests are written by a model, and none is reachable: {exc}") from exc
    try:
        result = harvest(
            Pool.named(args.pool),
            args.repo,
            QueryWriter(client),
            args.revision_range,
            count,
            args.max_patch_tokens,
            args.categories,
            on_progress=lambda line: console.print(Text(line, "dim")),
        )
    finally:
        client.close()
    for commit, reason in result.dropped:
        console.print(Text(f"dropped {commit[:10]}: {reason}", "dim"))
    for task in result.added:
        console.print(f"added {task.id} [{task.category}, {task.difficulty}] {task.query[:80]}", highlight=False)
    console.print(f"{len(result.added)} task(s) added, {len(result.dropped)} change(s) dropped; next: sii tasks review")
    return EXIT_OK if result.added else EXIT_NOTHING


def _running_embedded_server(settings: Settings) -> str:
    from model_server.bundled import BUNDLED_MODEL_NAME
    from model_server.launcher import ServerRegistry

    info = ServerRegistry(settings.home / "server").running(BUNDLED_MODEL_NAME)
    if info is None:
        raise TaskError(
            "the requests are written by a model, and none is configured: pass --base-url, set base_url, "
            "or start the bundled one with `sii serve`"
        )
    return info.base_url


@reported
def review_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.tasks.review import prompt_toolkit_ask, review

    console = Console()
    counts = review(Pool.named(args.pool), console, prompt_toolkit_ask())
    console.print(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing reviewed", highlight=False)
    return EXIT_OK


@reported
def progress_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.tasks.progress import progress, table

    pool = Pool.named(args.pool)
    Console().print(table(progress(pool.tasks())))
    return EXIT_OK


@reports("annotate", *ERRORS)
def annotate_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sii.tasks.annotate import annotate
    from sii.tasks.review import prompt_toolkit_ask

    task = annotate(
        Pool.named(args.pool),
        lambda workspace: settings_from_args(args, workspace),
        Console(),
        prompt_toolkit_ask(),
        task_id=args.task_id,
        test_command=args.test_command,
    )
    return EXIT_OK if task.status == "solved" else EXIT_NOTHING
