"""The tools on real files, a real pexpect bash, real ripgrep and real git repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tooling import run
from tools import ToolContext
from tools.default import default_registry
from tools.text import cap_output, strip_ansi


def test_read_file_numbers_lines_and_pages(ctx: ToolContext) -> None:
    (ctx.workspace / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    obs = run(ctx, "read_file", path="long.txt", offset=10, limit=5)
    assert not obs.is_error
    assert obs.text.splitlines()[0] == "    10\tline 10"
    assert "use offset=15" in obs.text


def test_read_file_refuses_binary_non_utf8_and_missing(ctx: ToolContext) -> None:
    (ctx.workspace / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    (ctx.workspace / "latin.txt").write_bytes("café".encode("latin-1"))
    assert "binary file" in run(ctx, "read_file", path="blob.bin").text
    assert "not UTF-8" in run(ctx, "read_file", path="latin.txt").text
    missing = run(ctx, "read_file", path="nope.txt")
    assert missing.is_error and "does not exist" in missing.text


def test_paths_cannot_escape_the_workspace(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cret")
    (ctx.workspace / "link").symlink_to(tmp_path / "secret.txt")
    for path in ("../secret.txt", str(tmp_path / "secret.txt"), "link"):
        obs = run(ctx, "read_file", path=path)
        assert obs.is_error and "outside the workspace" in obs.text
    assert "outside" in run(ctx, "write_file", path="../x.txt", content="x").text
    assert not (tmp_path / "x.txt").exists()


def test_write_then_edit_report_diffs(ctx: ToolContext) -> None:
    created = run(ctx, "write_file", path="pkg/new.py", content="x = 1\n")
    assert created.text == "Created pkg/new.py."
    assert "+x = 1" in created.data["diff"]
    edited = run(ctx, "edit_file", path="calc.py", old_string="a - b", new_string="a + b")
    assert not edited.is_error
    assert "-    return a - b" in edited.data["diff"] and "+    return a + b" in edited.data["diff"]
    assert (ctx.workspace / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_edit_errors_are_helpful(ctx: ToolContext) -> None:
    absent = run(ctx, "edit_file", path="calc.py", old_string="return a * b", new_string="x")
    assert absent.is_error and "not found" in absent.text and "return a - b" in absent.text
    (ctx.workspace / "dup.py").write_text("x = 1\nx = 1\n")
    dup = run(ctx, "edit_file", path="dup.py", old_string="x = 1", new_string="x = 2")
    assert dup.is_error and "occurs 2 times" in dup.text
    everywhere = run(ctx, "edit_file", path="dup.py", old_string="x = 1", new_string="x = 2", replace_all=True)
    assert not everywhere.is_error
    assert (ctx.workspace / "dup.py").read_text() == "x = 2\nx = 2\n"


def test_registry_turns_bad_calls_into_observations(ctx: ToolContext) -> None:
    registry = default_registry()
    unknown = registry.dispatch("delete_everything", {}, ctx)
    assert unknown.is_error and "unknown tool" in unknown.text and "read_file" in unknown.text
    broken = registry.dispatch("read_file", '{"path": "calc.py"', ctx)
    assert broken.is_error and "not valid JSON" in broken.text
    missing = registry.dispatch("edit_file", {"path": "calc.py"}, ctx)
    assert missing.is_error and "old_string" in missing.text


def test_shell_keeps_cwd_and_environment(ctx: ToolContext) -> None:
    first = run(ctx, "run_shell", command="mkdir -p sub && cd sub && export SII_FLAVOUR=mint")
    assert first.data["exit_code"] == 0
    second = run(ctx, "run_shell", command='pwd; echo "flavour=$SII_FLAVOUR"')
    assert second.text.splitlines()[:2] == [str(ctx.workspace / "sub"), "flavour=mint"]
    assert "[exit code 0]" in second.text


def test_shell_reports_exit_codes_and_multiline_scripts(ctx: ToolContext) -> None:
    failing = run(ctx, "run_shell", command="echo oops >&2; false")
    assert failing.is_error and failing.data["exit_code"] == 1 and "oops" in failing.text
    script = "cat <<'EOF' > heredoc.txt\nquote ' and \" kept\nEOF\ncat heredoc.txt"
    assert "quote ' and \" kept" in run(ctx, "run_shell", command=script).text
    syntax = run(ctx, "run_shell", command="echo 'unclosed")
    assert syntax.is_error and syntax.data["exit_code"] != 0
    assert run(ctx, "run_shell", command="echo still-alive").text.startswith("still-alive")


def test_shell_timeout_interrupts_a_command_waiting_for_input(ctx: ToolContext) -> None:
    waiting = run(ctx, "run_shell", command="read answer; echo got $answer", timeout=1)
    assert waiting.is_error and waiting.data["timed_out"]
    assert "waiting for input" in waiting.text
    after = run(ctx, "run_shell", command="echo usable")
    assert after.text.startswith("usable") and after.data["exit_code"] == 0


def test_shell_restarts_after_exit_in_the_last_directory_with_the_exported_variables(ctx: ToolContext) -> None:
    run(ctx, "run_shell", command="mkdir -p sub && cd sub && export KEPT=yes && LOST=no")
    gone = run(ctx, "run_shell", command="exit 3")
    assert gone.data["shell_exited"]
    again = run(ctx, "run_shell", command='pwd; echo "kept=$KEPT lost=$LOST"')
    assert "restarted" in again.text
    assert again.text.splitlines()[:2] == [str(ctx.workspace / "sub"), "kept=yes lost="]


def test_shell_output_is_capped_and_clean(ctx: ToolContext) -> None:
    obs = run(ctx, "run_shell", command="printf '\\033[31mred\\033[0m\\n'; seq 1 20000")
    assert obs.text.startswith("red\n1\n")
    assert "elided" in obs.text and obs.text.rstrip().endswith("[exit code 0]")
    assert "20000" in obs.text and len(obs.text) < 21_000


def test_cap_and_strip_helpers() -> None:
    assert strip_ansi("\x1b[1;32mok\x1b[0m \x1b]0;title\x07done") == "ok done"
    capped = cap_output("a" * 50 + "\n" * 10 + "b" * 50, max_chars=40)
    assert capped.startswith("a" * 20) and capped.endswith("b" * 20) and "70 characters" in capped


def test_grep_uses_ripgrep_with_globs_and_gitignore(ctx: ToolContext) -> None:
    (ctx.workspace / "notes.md").write_text("add numbers\n")
    (ctx.workspace / "build").mkdir()
    (ctx.workspace / "build" / "gen.py").write_text("def add(): pass\n")
    obs = run(ctx, "grep", pattern=r"def \w+", glob="*.py")
    assert obs.text.splitlines() == ["calc.py:1:def add(a, b):"]
    assert run(ctx, "grep", pattern="ADD", ignore_case=True).data["matches"] == 2
    assert "No matches" in run(ctx, "grep", pattern="zebra").text
    assert run(ctx, "grep", pattern="(unclosed").is_error


def test_git_status_and_diff_on_a_real_repository(ctx: ToolContext) -> None:
    assert "## main" in run(ctx, "git_status").text
    run(ctx, "edit_file", path="calc.py", old_string="a - b", new_string="a + b")
    (ctx.workspace / "new.txt").write_text("n\n")
    status = run(ctx, "git_status").text
    assert " M calc.py" in status and "?? new.txt" in status
    diff = run(ctx, "git_diff")
    assert "+    return a + b" in diff.text
    subprocess.run(["git", "add", "calc.py"], cwd=ctx.workspace, check=True)
    assert run(ctx, "git_diff").text == "(no differences)"
    assert "+    return a + b" in run(ctx, "git_diff", staged=True).text
    assert "+    return a + b" in run(ctx, "git_diff", ref="HEAD", path="calc.py").text


def test_git_tools_outside_a_repository(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    obs = default_registry().dispatch("git_status", {}, ToolContext(workspace=lonely))
    assert obs.is_error and "not inside a git repository" in obs.text


def test_a_context_moved_to_another_workspace_keeps_what_the_session_gave(ctx: ToolContext, tmp_path: Path) -> None:
    """The sandbox, hook permission, scratch folder, cache and focus are the session's; the shell, its jobs, the
    undo history and the todo list belonged to the old workspace, and closing it stops the shell and jobs."""
    from tools.sandbox import Sandbox

    ctx.sandbox, ctx.git_hooks, ctx.cache_dir, ctx.conversation_focus = Sandbox(), True, tmp_path / "c", ["calc.py"]
    run(ctx, "write_file", path="notes.txt", content="x")
    run(ctx, "todo_write", todos=[{"content": "one", "status": "pending"}])
    started = run(ctx, "run_shell", command="sleep 60", background=True)
    shell, jobs = ctx.shell, ctx.jobs
    assert shell is not None and jobs is not None and ctx.undo and ctx.todos
    other = tmp_path / "other"
    other.mkdir()
    moved = ctx.moved_to(other)
    assert (moved.workspace, moved.session_id, moved.scratch) == (other, ctx.session_id, ctx.scratch)
    assert (moved.sandbox, moved.git_hooks, moved.cache_dir) == (ctx.sandbox, True, ctx.cache_dir)
    assert moved.conversation_focus == ["calc.py"] and moved.conversation_focus is not ctx.conversation_focus
    assert (moved.shell, moved.jobs, moved.undo, moved.todos) == (None, None, {}, [])
    job = jobs.get(started.data["job_id"])
    ctx.close()
    assert ctx.shell is None and ctx.jobs is None and not shell.child.isalive() and not job.running()
    moved.close()


def test_no_module_of_tools_imports_sii() -> None:
    """Imports point down: the tools are given what they need of the faces (settings, trust, the MCP pool)."""
    code = (
        "import pkgutil, sys, tools\n"
        "for module in pkgutil.walk_packages(tools.__path__, 'tools.'):\n"
        "    __import__(module.name)\n"
        "print(sorted(name for name in sys.modules if name == 'sii' or name.startswith('sii.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
