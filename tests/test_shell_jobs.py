"""Background jobs through the real persistent bash: start, read, kill, cleanup, and the shell's round trip."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from tests.tooling import run, wait_for
from tools import ToolContext
from tools.processes import process_alive


def finished(ctx: ToolContext, job_id: int) -> Callable[[], bool]:
    return lambda: not ctx.jobs.get(job_id).running()


def test_background_job_inherits_the_shell_and_reports_its_exit_code(ctx: ToolContext) -> None:
    run(ctx, "run_shell", command="mkdir -p sub && cd sub && export FLAVOUR=mint && LOCAL=kept && greet() { echo hi; }")
    started = time.monotonic()
    obs = run(ctx, "run_shell", command='sleep 0.3; pwd; echo "$FLAVOUR $LOCAL"; greet; exit 4', background=True)
    assert time.monotonic() - started < 0.3
    assert not obs.is_error and "Started background job 1" in obs.text
    job_id = obs.data["job_id"]
    assert run(ctx, "job_output", job_id=job_id).data["running"]
    wait_for(finished(ctx, job_id))
    done = run(ctx, "job_output", job_id=job_id)
    assert done.text.splitlines() == [str(ctx.workspace / "sub"), "mint kept", "hi", "[job 1 exited with code 4]"]
    assert done.is_error and done.data == {"job_id": 1, "running": False, "exit_code": 4, "killed": False}
    assert run(ctx, "run_shell", command="pwd").text.startswith(str(ctx.workspace / "sub"))


def test_job_output_returns_only_new_output_or_the_tail(ctx: ToolContext) -> None:
    script = "echo first; while [ ! -f go ]; do sleep 0.02; done; echo second; echo third"
    job_id = run(ctx, "run_shell", command=script, background=True).data["job_id"]
    wait_for(lambda: "first" in run(ctx, "job_output", job_id=job_id, tail_lines=5).text)
    assert run(ctx, "job_output", job_id=job_id).text.startswith("(no new output)\n[job 1 is still running]")
    (ctx.workspace / "go").touch()
    wait_for(finished(ctx, job_id))
    assert run(ctx, "job_output", job_id=job_id).text == "second\nthird\n[job 1 exited with code 0]"
    assert run(ctx, "job_output", job_id=job_id).text == "(no new output)\n[job 1 exited with code 0]"
    assert run(ctx, "job_output", job_id=job_id, tail_lines=1).text == "third\n[job 1 exited with code 0]"


def test_kill_job_stops_the_whole_process_group(ctx: ToolContext) -> None:
    job_id = run(ctx, "run_shell", command="sleep 300 & echo child=$!; sleep 300", background=True).data["job_id"]
    job = ctx.jobs.get(job_id)
    wait_for(lambda: "child=" in job.log.read_text())
    child = int(job.log.read_text().split("child=")[1].split()[0])
    assert process_alive(child) and process_alive(job.pid)
    killed = run(ctx, "kill_job", job_id=job_id)
    assert killed.data["killed"] and "Killed job 1" in killed.text
    wait_for(lambda: not process_alive(child))
    assert "[job 1 was killed]" in run(ctx, "job_output", job_id=job_id).text
    assert "already finished" in run(ctx, "kill_job", job_id=job_id).text
    unknown = run(ctx, "job_output", job_id=7)
    assert unknown.is_error and "no background job 7" in unknown.text


def test_trailing_ampersand_starts_a_job_and_close_kills_it(workspace: Path) -> None:
    ctx = ToolContext(workspace=workspace)
    obs = run(ctx, "run_shell", command="sleep 300 &")
    assert "Started background job 1" in obs.text
    pid = obs.data["pid"]
    assert process_alive(pid)
    assert run(ctx, "run_shell", command="true && echo both").text.startswith("both")
    assert run(ctx, "run_shell", command="echo merged 2>&1").text.startswith("merged")
    run(ctx, "run_shell", command="exit 3")
    assert process_alive(pid), "a job survives a restart of the foreground shell"
    ctx.close()
    wait_for(lambda: not process_alive(pid))


def test_shell_round_trip_stays_fast(ctx: ToolContext) -> None:
    run(ctx, "run_shell", command="true")
    times = []
    for _ in range(50):
        started = time.perf_counter()
        assert run(ctx, "run_shell", command="true").data["exit_code"] == 0
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.020


def test_kill_job_also_stops_children_that_left_its_group(ctx: ToolContext) -> None:
    command = "setsid sleep 301 & echo setsid=$!; (sleep 302 & echo forked=$!); sleep 300"
    job_id = run(ctx, "run_shell", command=command, background=True).data["job_id"]
    job = ctx.jobs.get(job_id)
    wait_for(lambda: "forked=" in job.log.read_text())
    text = job.log.read_text()
    escaped = [int(text.split(f"{name}=")[1].split()[0]) for name in ("setsid", "forked")]
    wait_for(lambda: all(process_alive(pid) for pid in escaped))
    assert run(ctx, "kill_job", job_id=job_id).data["killed"]
    for pid in escaped:
        wait_for(lambda pid=pid: not process_alive(pid), timeout=3)
