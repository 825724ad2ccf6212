"""Task pools end to end: mining a real git history against the scripted model, the review through a
pseudo-terminal, annotation in a worktree at the parent commit with the recording linked, and progress."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from recordings.store import read_trajectory
from sii.config import Settings
from sii.session import Session
from sii.tasks import commands
from sii.tasks.annotate import annotate
from sii.tasks.dedupe import duplicate_of
from sii.tasks.from_git import Change, char_tokens, classify, mine, tokenizer_tokens
from sii.tasks.pool import Pool, Task
from sii.tasks.progress import progress
from tests.scripted_server import Reply, ScriptedServer, call

FIX_QUERY = "average() crashes with ZeroDivisionError on an empty list; it should give zero when there are no numbers."
DARK_QUERY = "I want a dark mode toggle on the web page that remembers the choice."
DUPLICATE_QUERY = (
    "average() crashes with a ZeroDivisionError on an empty list; it should give zero if there are no numbers!"
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    """A repository whose first-parent line holds one change of each kind; returns name -> commit."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {"root": commit(repo, "initial", {"stats.py": "def average(xs):\n    return sum(xs) / len(xs)\n"})}
    shas["fix"] = commit(
        repo,
        "Fix crash of average on empty input",
        {"stats.py": "def average(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n"},
    )
    shas["docs"] = commit(repo, "Document average", {"README.md": "# stats\n\n`average(xs)` averages.\n"})
    shas["lock"] = commit(repo, "Bump lockfile", {"package-lock.json": '{"lockfileVersion": 3}\n'})
    shas["vendored"] = commit(repo, "Vendor leftpad", {"vendor/leftpad.py": "def pad(s):\n    return ' ' + s\n"})
    big = "".join(f"def f{i}(x):\n    return x * {i} + {i * 7} - {i * 3}\n" for i in range(200))
    shas["big"] = commit(repo, "Add generated helpers", {"helpers.py": big})
    git(repo, "checkout", "-q", "-b", "dark-mode")
    commit(
        repo,
        "Add toggle button",
        {"web/app.js": "export function toggle() { document.body.classList.toggle('dark'); }\n"},
    )
    commit(repo, "Style dark mode", {"web/style.css": "body.dark { background: #111; color: #eee; }\n"})
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "dark-mode", "-m", "Merge pull request #7 from dark-mode")
    shas["merge"] = git(repo, "rev-parse", "HEAD")
    shas["dup"] = commit(repo, "Handle empty input in median", {"median.py": "def median(xs):\n    return None\n"})
    shas["leak"] = commit(
        repo, "Add a greeting", {"greet.py": "def greet(name):\n    return f'Hello there, {name}, welcome back!'\n"}
    )
    shas["repo"] = str(repo)
    return shas


def namespace(**values: object) -> argparse.Namespace:
    return argparse.Namespace(command="tasks", pool="default", **values)


def from_git(repo: str, base_url: str, **options: object) -> int:
    values = {"revision_range": None, "max_patch_tokens": 1200, "tokenizer": None, "categories": None}
    return commands.from_git_command(
        namespace(repo=Path(repo), query_base_url=base_url, query_model=None, **{**values, **options})
    )


def test_paths_and_messages_decide_the_category() -> None:
    assert classify(["web/app.js", "web/style.css"], "Add toggle") == "frontend"
    assert classify(["api/server.py"], "Add an endpoint") == "backend"
    assert classify(["api/server.py"], "Fix the crash on login") == "debugging"
    assert classify(["api/cache.py"], "Speed up lookups") == "optimization"
    assert classify(["Dockerfile", ".github/workflows/ci.yml"], "Build images") == "deployment"
    assert classify(["tests/test_api.py", "docs/api.md"], "Cover the API") == "docs-tests"


def test_near_duplicates_are_recognised() -> None:
    others = [("t1", FIX_QUERY), ("t2", DARK_QUERY)]
    assert duplicate_of(DUPLICATE_QUERY, others) == "t1"
    assert duplicate_of("On the web page, I want a dark mode toggle that remembers the choice", others) == "t2"
    assert duplicate_of("Add a median function to stats.", others) is None


def test_from_git_keeps_code_changes_and_writes_their_queries(
    history: dict[str, str], scripted: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.script = [
        Reply(f'Request: "{FIX_QUERY}"'),
        Reply(f"<think>a PR about themes</think>{DARK_QUERY}"),
        Reply(DUPLICATE_QUERY),
        Reply("Add greet.py with:\n    return f'Hello there, {name}, welcome back!'"),
    ]
    assert from_git(history["repo"], scripted.base_url) == 0
    dropped = {
        line.split()[1].rstrip(":"): line for line in capsys.readouterr().err.splitlines() if line.startswith("dropped")
    }
    assert "root commit" in dropped[history["root"][:10]]
    assert "only documentation" in dropped[history["docs"][:10]]
    assert "lockfiles or vendored" in dropped[history["lock"][:10]]
    assert "lockfiles or vendored" in dropped[history["vendored"][:10]]
    assert "over 1200" in dropped[history["big"][:10]]
    assert "near-duplicate" in dropped[history["dup"][:10]]
    assert "gives the patch away" in dropped[history["leak"][:10]]

    tasks = Pool.named("default").tasks()
    assert [(t.commit, t.query, t.category, t.reviewed) for t in tasks] == [
        (history["fix"], FIX_QUERY, "debugging", False),
        (history["merge"], DARK_QUERY, "frontend", False),
    ]
    fix, merge = tasks
    assert fix.parent == history["root"] and merge.files == ["web/app.js", "web/style.css"]
    added = [line[1:].strip() for line in fix.patch.splitlines() if line.startswith("+") and line[1:].strip()]
    assert "return 0.0" in added and not any(line in fix.query for line in added) and "@@" not in fix.query
    prompt = scripted.requests[0]["messages"][0]["content"]
    assert "Fix crash of average on empty input" in prompt and "+        return 0.0" in prompt
    assert "toggle('dark')" in scripted.requests[1]["messages"][0]["content"]

    asked = len(scripted.requests)
    scripted.script = [Reply(DUPLICATE_QUERY), Reply(DUPLICATE_QUERY)]
    assert from_git(history["repo"], scripted.base_url) == 1  # a rerun adds nothing and asks the model nothing new
    assert "already in the pool" in capsys.readouterr().err
    assert len(scripted.requests) == asked + 2  # the two changes not in the pool are asked about again


def test_from_git_filters_by_category_and_size(history: dict[str, str], scripted: ScriptedServer) -> None:
    scripted.script = [Reply("Helpers for the f functions, please."), Reply("A median, please."), Reply("Greet.")]
    assert from_git(history["repo"], scripted.base_url, max_patch_tokens=100_000, categories={"backend"}) == 0
    big, median, greet = Pool.named("default").tasks()
    assert [big.commit, median.commit, greet.commit] == [history["big"], history["dup"], history["leak"]]
    assert big.difficulty == "hard" and median.difficulty == "easy" and len(scripted.requests) == 3


def test_patch_size_can_be_counted_with_the_served_models_tokenizer(history: dict[str, str], tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()  # one token per word or run of punctuation
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]").save_pretrained(tmp_path / "tokenizer")
    count = tokenizer_tokens(str(tmp_path / "tokenizer"))
    repo, fix_range = Path(history["repo"]), f"{history['root']}..{history['fix']}"
    (fix,) = mine(repo, fix_range, count)
    assert isinstance(fix, Change) and fix.tokens == len(re.findall(r"\w+|[^\w\s]+", fix.patch)) != char_tokens(
        fix.patch
    )
    assert list(mine(repo, fix_range, count, max_tokens=fix.tokens - 1)) == [
        (history["fix"], f"patch of {fix.tokens} tokens (over {fix.tokens - 1})")
    ]
    with pytest.raises(ValueError, match="cannot load tokenizer"):
        tokenizer_tokens(str(tmp_path / "missing"))


def test_from_git_without_a_model_is_a_clear_error(history: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert from_git(history["repo"], "http://127.0.0.1:9/v1") == 2
    error = capsys.readouterr().err
    assert error.startswith("sii tasks: error: the requests are written by a model, and none is reachable")
    assert len(error.strip().splitlines()) == 1 and not Pool.named("default").tasks()


def test_add_import_list_show_reject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        commands.add_command(
            namespace(
                query="Please add a --json flag to the report command",
                category=None,
                difficulty=None,
                repo=None,
                ref="HEAD",
            )
        )
        == 0
    )
    lines = [
        {"query": "Add a --json flag to the report command", "category": "backend"},
        {"query": "Add pagination to the users page", "category": "frontend"},
    ]
    file = tmp_path / "queries.jsonl"
    file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert commands.import_command(namespace(file=file)) == 0
    tasks = Pool.named("default").tasks()
    assert [t.query for t in tasks] == [
        "Please add a --json flag to the report command",
        "Add pagination to the users page",
    ]
    assert commands.reject_command(namespace(id=tasks[1].id[:5], note="too vague")) == 0
    assert commands.list_command(namespace(status="rejected")) == 0
    assert commands.show_command(namespace(id=tasks[1].id)) == 0
    out = capsys.readouterr().out
    assert "near-duplicate" in out and "too vague" in out and "Add pagination" in out
    file.write_text('{"prompt": "x"}\n')
    assert commands.import_command(namespace(file=file)) == 2
    assert "line 1: unknown task field(s): prompt" in capsys.readouterr().err


def test_review_accepts_edits_and_rejects_in_a_terminal(tmp_path: Path, sii_home: Path) -> None:
    pool = Pool.named("default")
    with pool.editing() as tasks:
        for number, query in enumerate(["Speed up the importer", "Make the CLI nicer", "Refactor everything"]):
            patch = f"--- a/x{number}.py\n+++ b/x{number}.py\n@@ -1 +1 @@\n-old\n+new{number}\n"
            tasks.append(Task(id=f"t{number}", query=query, source="git", patch=patch, reviewed=False))
    script = (
        "import argparse, sys; from sii.tasks.commands import review_command; "
        "sys.exit(review_command(argparse.Namespace(command='tasks', pool='default')))"
    )
    env = {**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120"}
    child = pexpect.spawn(sys.executable, ["-c", script], env=env, encoding="utf-8", timeout=30, cwd=str(tmp_path))
    child.expect("Speed up the importer")
    child.expect("new0")
    child.expect(r"\[q\]uit:")
    child.sendline("a")
    child.expect("accepted")
    child.expect("Make the CLI nicer")
    child.expect(r"\[q\]uit:")
    child.sendline("e")
    child.expect("request:")
    child.send("\x15")  # Ctrl-U: clear the line
    child.sendline("Show a progress bar while `sii export` runs")
    child.expect("edited")
    child.expect("Refactor everything")
    child.expect(r"\[q\]uit:")
    child.sendline("r")
    child.expect("why reject it")
    child.sendline("not a real task")
    child.expect("1 accepted, 1 edited, 1 rejected")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    first, second, third = pool.tasks()
    assert first.reviewed and first.status == "open" and first.query == "Speed up the importer"
    assert (
        second.query == "Show a progress bar while `sii export` runs" and second.original_query == "Make the CLI nicer"
    )
    assert third.status == "rejected" and third.note == "not a real task"


def scripted_session(server: ScriptedServer, outcome: str) -> Callable[[Settings, str, Callable[[Session], None]], int]:
    """Stands in for the REPL: one session on the scripted server, the query as its first turn, then a label."""

    def run(settings: Settings, query: str, on_session: Callable[[Session], None]) -> int:
        settings.base_url, settings.mode = server.base_url, "yolo"
        session = Session(settings, face="repl", ask=None, notify=lambda _: None)
        on_session(session)
        try:
            session.agent.run_turn(query)
            session.label(outcome)
        finally:
            session.close()
        return 0

    return run


def test_annotate_works_in_a_worktree_at_the_parent_and_links_the_recording(
    history: dict[str, str], scripted: ScriptedServer, sii_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.script = [Reply(FIX_QUERY), Reply(DARK_QUERY), Reply("Median of a list."), Reply("Say hello.")]
    from_git(history["repo"], scripted.base_url)
    pool = Pool.named("default")
    with pool.editing() as tasks:
        for task in tasks:
            task.reviewed = True
            task.status = "rejected" if task.category == "frontend" else task.status
    fix = next(t for t in pool.tasks() if t.commit == history["fix"])

    seen: dict[str, str] = {}
    edit = {
        "path": "stats.py",
        "old_string": "    return sum",
        "new_string": "    if not xs:\n        return 0.0\n    return sum",
    }
    scripted.script = [Reply("", [call("edit_file", edit)]), Reply("average() now returns 0.0 for an empty list.")]
    run = scripted_session(scripted, "fail")

    def watching(settings: Settings, query: str, on_session: Callable[[Session], None]) -> int:
        seen["head"] = git(settings.workspace, "rev-parse", "HEAD")
        seen["stats"] = (settings.workspace / "stats.py").read_text()
        seen["query"] = query
        return run(settings, query, on_session)

    answers = iter(["s"])  # the annotator turns the agent's "fail" into success after seeing the comparison

    def settings_for(workspace: Path) -> Settings:
        return Settings.resolve(workspace=workspace)

    task = annotate(
        pool,
        settings_for,
        Console(),
        lambda *_: next(answers),
        watching,
        test_command=f"{sys.executable} -c 'import stats; assert stats.average([]) == 0.0'",
    )
    workspace = sii_home / "annotate" / fix.id
    assert seen == {
        "head": history["root"],
        "stats": "def average(xs):\n    return sum(xs) / len(xs)\n",
        "query": FIX_QUERY,
    }
    assert task.id == fix.id and task.status == "solved" and task.claimed_by is None
    (recording,) = task.sessions
    trajectory = read_trajectory(Path(recording))
    assert task.solved_by == trajectory.meta.session_id and trajectory.meta.outcome == "success"
    assert trajectory.meta.workspace == str(workspace) and trajectory.messages[1]["content"] == FIX_QUERY
    (linked,) = [e for e in trajectory.events if e["type"] == "task"]
    assert linked["task_id"] == fix.id and linked["pool"] == "default" and linked["commit"] == history["fix"]
    (comparison,) = [e for e in trajectory.events if e["type"] == "comparison"]
    assert comparison["reference_files"] == ["stats.py"] == comparison["overlap"] and comparison["recall"] == 1.0
    assert comparison["test_exit"] == 0
    assert "recall 100%" in capsys.readouterr().out

    # Another attempt at the other open task, labelled fail: the task opens again, its recording stays linked.
    scripted.script = [Reply("I could not do it.")]
    failed = annotate(pool, settings_for, Console(), lambda *_: "", scripted_session(scripted, "fail"))
    assert failed.status == "open" and len(failed.sessions) == 1 and "fail" in (failed.note or "")
    with pytest.raises(ValueError, match="is solved"):
        annotate(pool, settings_for, Console(), lambda *_: "", scripted_session(scripted, "fail"), task_id=fix.id)

    rows = progress(pool.tasks())
    assert (rows["debugging"].solved, rows["debugging"].sessions) == (1, 1)
    assert (rows["frontend"].rejected, rows["all"].tasks, rows["all"].open, rows["all"].sessions) == (1, 4, 2, 2)
    assert rows["all"].tokens == rows["debugging"].tokens + rows[failed.category or ""].tokens > 0
    assert rows["all"].seconds >= rows["debugging"].seconds > 0
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "150")
        assert commands.progress_command(argparse.Namespace(command="tasks", pool="default")) == 0
    table = capsys.readouterr().out
    assert "│ debugging " in table and "│ 4 " in table


def test_a_timed_out_test_command_reports_its_partial_output_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """subprocess hands back a timed-out child's output as bytes even under text=True; the record shows text."""
    from sii.tasks import compare

    monkeypatch.setattr(compare, "TEST_TIMEOUT_S", 1)
    code, output = compare.run_tests(tmp_path, "echo partial-result; echo to-stderr >&2; exec sleep 30")
    assert code == 124
    assert "partial-result" in output and "to-stderr" in output
    assert "b'" not in output
