"""The persistent shell under faults and hostile commands, through the real pexpect bash: output floods, kill -9
of sii, commands that break the shell's streams or print its sentinels, timeouts, history, close time, and
the private temporary folders."""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.scripted_server import Reply, ScriptedServer, call
from tests.tooling import run, wait_for
from tools import ToolContext
from tools.processes import process_alive
from tools.sandbox import Sandbox
from tools.scratch import Scratch, clean_orphans, scratch_root

DISK_BOUND = 16 << 20  # the caps keep 4 MB of head and about 4-8 MB of tail; main wrote gigabytes


def with_environment(entry: str) -> list[int]:
    """Live pids whose environment holds `entry` (NAME=value), read from /proc independently of sii."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if entry.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") and process_alive(int(pid)):
                found.append(int(pid))
        except OSError:
            continue
    return found


def with_command_line(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def on_disk(path: Path) -> int:
    return path.stat().st_blocks * 512


def session_folder(ctx: ToolContext) -> Path:
    return ctx.shell.scratch.path


# --- output floods ---------------------------------------------------------------------------------------------


def test_background_flood_stays_under_the_cap_and_reading_it_stays_bounded(ctx: ToolContext) -> None:
    job_id = run(ctx, "run_shell", command="yes", background=True).data["job_id"]
    log = ctx.jobs.get(job_id).log
    worst, ended = 0, time.monotonic() + 3
    while time.monotonic() < ended:
        worst = max(worst, on_disk(log))
        time.sleep(0.05)
    assert log.stat().st_size > 2 * DISK_BOUND, "yes should have written far more than the cap"
    assert worst <= DISK_BOUND
    tracemalloc.start()
    try:
        obs = run(ctx, "job_output", job_id=job_id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    assert obs.text.startswith("y\ny\n") and "bytes elided" in obs.text and "[job 1 is still running]" in obs.text
    tail = run(ctx, "job_output", job_id=job_id, tail_lines=3)
    assert tail.text.splitlines() == ["y", "y", "y", "[job 1 is still running]"]


def test_job_output_reads_a_large_log_in_bounded_chunks(ctx: ToolContext) -> None:
    command = "seq 1 300000; echo last-line"
    job_id = run(ctx, "run_shell", command=command, background=True).data["job_id"]
    wait_for(lambda: not ctx.jobs.get(job_id).running())
    first = run(ctx, "job_output", job_id=job_id)
    assert first.text.startswith("1\n2\n3\n") and "bytes elided" in first.text and len(first.text) < 21_000
    assert first.text.endswith("300000\nlast-line\n[job 1 exited with code 0]")
    assert run(ctx, "job_output", job_id=job_id).text == "(no new output)\n[job 1 exited with code 0]"


def test_huge_foreground_output_completes_fast_with_head_tail_and_a_note(ctx: ToolContext) -> None:
    started = time.monotonic()
    obs = run(ctx, "run_shell", command="seq 1 7000000", timeout=20)
    assert time.monotonic() - started < 10
    assert obs.data["exit_code"] == 0 and not obs.data["timed_out"]
    assert obs.text.startswith("1\n2\n3\n") and obs.text.endswith("6999999\n7000000\n[exit code 0]")
    assert "bytes elided" in obs.text and obs.data["output_file"] in obs.text and len(obs.text) < 21_000
    kept = Path(obs.data["output_file"])
    assert kept.read_bytes().startswith(b"1\n2\n3\n") and kept.stat().st_size == obs.data["output_bytes"]


def test_foreground_flood_is_capped_on_disk(ctx: ToolContext) -> None:
    obs = run(ctx, "run_shell", command="head -c 200000000 /dev/zero | tr '\\0' y; echo; echo end")
    assert obs.data["exit_code"] == 0 and obs.text.endswith("end\n[exit code 0]")
    assert obs.data["output_bytes"] > 200_000_000 and on_disk(Path(obs.data["output_file"])) <= DISK_BOUND


def test_only_the_last_outputs_stay_on_disk(ctx: ToolContext) -> None:
    files = [Path(run(ctx, "run_shell", command=f"echo {n}").data["output_file"]) for n in range(12)]
    assert [path.exists() for path in files] == [False] * 4 + [True] * 8


# --- sii killed with -9 ----------------------------------------------------------------------------------------


# A child that leaves the group, a double fork, and one that clears its environment (markers included).
JOB_FAMILY = "setsid sleep 1001 & (sleep 1002 &); env -i sleep 1003 & echo $! > unmarked.pid; sleep 1000"


class KilledSii:
    """A real `sii -p` that starts a background job family, then waits on a slowly streamed reply. Teardown
    kills whatever a failed test left: sii, and every process carrying the session's marker or in the job's group."""

    def __init__(self, scripted: ScriptedServer, workspace: Path, sii_home: Path) -> None:
        self.scripted, self.workspace, self.sii_home = scripted, workspace, sii_home
        self.process: subprocess.Popen | None = None
        self.mark, self.job, self.unmarked = "", 0, 0

    def start(self) -> Path:
        self.scripted.script = [
            Reply("", [call("run_shell", {"command": JOB_FAMILY, "background": True})]),
            Reply("x" * 200, chunk=1, delay=0.1),
        ]
        command = [sys.executable, "-m", "sii", "-p", "go", "--yolo", "--base-url", self.scripted.base_url]
        self.process = subprocess.Popen(
            command, cwd=self.workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: len(self.scripted.requests) == 2, timeout=30)
        (message,) = [m for m in self.scripted.requests[1]["messages"] if m["role"] == "tool"]
        self.job = int(message["content"].split("(pid ")[1].split(")")[0])
        (folder,) = (self.sii_home / "tmp").iterdir()
        self.mark = (folder / "mark").read_text()
        wait_for(lambda: len(with_environment(f"SII_SESSION_MARK={self.mark}")) >= 4)
        written = self.workspace / "unmarked.pid"
        wait_for(lambda: written.exists() and written.read_text().strip().isdigit())
        self.unmarked = int(written.read_text())
        return folder

    def cleanup(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        for pid in with_environment(f"SII_SESSION_MARK={self.mark}") if self.mark else []:
            os.kill(pid, signal.SIGKILL)
        if self.job and process_alive(self.job):
            os.killpg(self.job, signal.SIGKILL)
        if self.unmarked and process_alive(self.unmarked):
            os.kill(self.unmarked, signal.SIGKILL)


@pytest.fixture
def killed_sii(scripted: ScriptedServer, workspace: Path, sii_home: Path) -> Iterator[KilledSii]:
    run = KilledSii(scripted, workspace, sii_home)
    try:
        yield run
    finally:
        run.cleanup()


def test_kill_9_of_sii_kills_its_jobs_and_removes_its_folder(killed_sii: KilledSii) -> None:
    folder = killed_sii.start()
    assert process_alive(killed_sii.job)
    assert killed_sii.process is not None
    killed_sii.process.kill()
    killed_sii.process.wait()
    marked = f"SII_SESSION_MARK={killed_sii.mark}"
    wait_for(lambda: not with_environment(marked) and not process_alive(killed_sii.job), timeout=5)
    wait_for(lambda: not process_alive(killed_sii.unmarked), timeout=5)
    wait_for(lambda: not folder.exists(), timeout=5)


def test_kill_9_of_sii_and_its_watchdog_is_cleaned_at_the_next_start(killed_sii: KilledSii) -> None:
    folder = killed_sii.start()
    watchdogs = with_command_line(str(folder))
    assert watchdogs and killed_sii.process is not None
    for pid in [*watchdogs, killed_sii.process.pid]:
        os.kill(pid, signal.SIGKILL)
    killed_sii.process.wait()
    time.sleep(0.3)
    marked = f"SII_SESSION_MARK={killed_sii.mark}"
    assert with_environment(marked), "the jobs outlived both (bash dies with its terminal, the jobs ignore SIGHUP)"
    Scratch("next", killed_sii.sii_home / "tmp").close()  # the next start
    assert not with_environment(marked) and not process_alive(killed_sii.job) and not process_alive(killed_sii.unmarked)
    assert not folder.exists()


# --- private temporary folders ---------------------------------------------------------------------------------


def leaked_into(folders: set[Path], token: bytes) -> list[Path]:
    """Files under `folders` holding `token` (other test runs may create folders there meanwhile)."""
    found = []
    for folder in folders:
        for path in [folder, *folder.rglob("*")] if folder.is_dir() else [folder]:
            try:
                if path.is_file() and token in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def test_temporary_files_are_private_under_sii_home_and_removed_on_close(workspace: Path, sii_home: Path) -> None:
    shared = set(Path(tempfile.gettempdir()).iterdir())
    token = secrets.token_hex(8)
    ctx = ToolContext(workspace=workspace, session_id="../../evil id", scratch=sii_home / "tmp")
    try:
        run(ctx, "run_shell", command=f"echo command-{token}")
        run(ctx, "run_shell", command=f"echo job-{token}", background=True)
        folder = session_folder(ctx)
        assert folder.parent == sii_home / "tmp" and folder.name.startswith(".._.._evil_id-")
        for path in (folder.parent, folder, *(p for p in folder.rglob("*") if p.is_dir())):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
        assert leaked_into({folder}, token.encode())
        assert not leaked_into(set(Path(tempfile.gettempdir()).iterdir()) - shared, token.encode())
    finally:
        ctx.close()
    assert not folder.exists()


def test_orphaned_folders_are_swept_only_when_their_owner_is_gone(sii_home: Path, tmp_path: Path) -> None:
    root = scratch_root(sii_home / "tmp")
    root.mkdir(parents=True)
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    start = Path(f"/proc/{live.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    owners = {"live": f"{live.pid}:{start}", "dead": f"{dead.pid}:{start}", "reused": f"{live.pid}:1"}
    orphans = {}
    try:
        for name, owner in owners.items():
            (root / name).mkdir(mode=0o700)
            (root / name / "owner").write_text(owner)
            (root / name / "mark").write_text(f"mark-{name}")
            env = {**os.environ, "SII_SESSION_MARK": f"mark-{name}"}
            orphans[name] = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
        (root / "young").mkdir()  # being created right now: no owner file yet
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("keep")
        (root / "link").symlink_to(outside)
        removed = clean_orphans(root)
        assert sorted(path.name for path in removed) == ["dead", "reused"]
        assert sorted(path.name for path in root.iterdir()) == ["link", "live", "young"]
        assert (outside / "keep.txt").read_text() == "keep"
        for name in ("dead", "reused"):
            assert orphans[name].wait(timeout=5) == -signal.SIGKILL
        assert orphans["live"].poll() is None
    finally:
        for process in [live, *orphans.values()]:
            process.kill()
            process.wait()


def test_a_linked_temporary_root_is_refused(sii_home: Path, tmp_path: Path) -> None:
    sii_home.mkdir()
    (sii_home / "tmp").symlink_to(tmp_path)
    with pytest.raises(OSError, match="not a directory owned by this user"):
        Scratch("s", sii_home / "tmp")


# --- commands that break the shell's streams or fake its sentinels ---------------------------------------------


@pytest.mark.parametrize(
    "breaker",
    ["exec >/dev/null", "exec 2>/dev/null 1>&2", "exec 1>&- 2>&-", "exec </dev/null", "stty echo", "stty -isig"],
)
def test_broken_streams_do_not_silence_later_calls(ctx: ToolContext, breaker: str) -> None:
    run(ctx, "run_shell", command=breaker)
    obs = run(ctx, "run_shell", command="echo hi")
    assert obs.text.splitlines()[0] == "hi" and obs.text.endswith("[exit code 0]")
    assert run(ctx, "run_shell", command="echo again").text == "again\n[exit code 0]"


@pytest.mark.parametrize(
    "printer",
    [
        "echo ${PS1@P}",
        "printf '__SII_%s_%s__\\n' deadbeefdeadbeef 0",
        "printf '\\n__SII_0123456789abcdef_0__\\n' > /dev/tty",
        "printf '__SII_READY__\\n__SII_JOB_1__\\n' >&0",
    ],
)
def test_printed_prompts_and_fake_sentinels_do_not_desynchronise(ctx: ToolContext, printer: str) -> None:
    first = run(ctx, "run_shell", command=f"{printer}; sleep 0.2; echo real")
    assert "real" in first.text and first.data["exit_code"] == 0 and not first.data["shell_exited"]
    for n in range(5):
        assert run(ctx, "run_shell", command=f"echo call-{n}; (exit {n})").text == f"call-{n}\n[exit code {n}]"


def test_a_flood_written_to_the_terminal_itself_stays_out_of_memory(ctx: ToolContext) -> None:
    tracemalloc.start()
    try:
        obs = run(ctx, "run_shell", command="yes > /dev/tty", timeout=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert obs.data["timed_out"] and peak < 4 << 20
    assert run(ctx, "run_shell", command="echo calm").text == "calm\n[exit code 0]"


# --- timeouts keep the shell ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blocker",
    [
        "sleep 100",
        "trap '' INT; sleep 100",
        "read line",
        "while :; do :; done",
        "sleep 100 | cat",
        "timeout 100 sleep 100",
    ],
)
def test_a_timeout_interrupts_and_keeps_cwd_and_environment(ctx: ToolContext, blocker: str) -> None:
    obs = run(ctx, "run_shell", command=f"mkdir -p sub; cd sub; export X=1; Y=2; {blocker}", timeout=1)
    assert obs.data["timed_out"] and "interrupted" in obs.text
    after = run(ctx, "run_shell", command='pwd; echo "X=$X Y=$Y"')
    assert after.text.splitlines()[:2] == [str(ctx.workspace / "sub"), "X=1 Y=2"]
    assert ctx.shell.restarts == 0


def test_a_shell_that_ignores_interrupts_restarts_with_cwd_and_exports(ctx: ToolContext) -> None:
    run(ctx, "run_shell", command="mkdir -p sub/deeper; cd sub; export X=1")
    obs = run(ctx, "run_shell", command="cd deeper; trap '' INT; while :; do :; done", timeout=1)
    assert obs.data["timed_out"] and "shell was killed" in obs.text
    after = run(ctx, "run_shell", command='pwd; echo "X=$X"')
    assert after.text.splitlines()[:2] == [str(ctx.workspace / "sub" / "deeper"), "X=1"] and "restarted" in after.text


# --- history and close -----------------------------------------------------------------------------------------


def test_the_shell_writes_no_history(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bash_history").write_text("mine\n")
    monkeypatch.setenv("HOME", str(home))
    for _ in range(2):
        ctx = ToolContext(workspace=workspace)
        run(ctx, "run_shell", command="echo one; set -o history; echo two")
        run(ctx, "run_shell", command="exit 0")
        run(ctx, "run_shell", command="echo three")
        ctx.close()
    assert (home / ".bash_history").read_text() == "mine\n"
    assert sorted(path.name for path in home.iterdir()) == [".bash_history"]


def test_close_is_fast_and_certain(workspace: Path) -> None:
    ctx = ToolContext(workspace=workspace)
    pids = [
        run(ctx, "run_shell", command=command, background=True).data["pid"]
        for command in ("sleep 1000", "trap '' TERM HUP; sleep 1000", "setsid sleep 1000")
    ]
    run(ctx, "run_shell", command="cd /; export X=1")
    bash = ctx.shell.child.pid
    marked = f"SII_SESSION_MARK={ctx.shell.scratch.mark}"
    assert len(with_environment(marked)) >= 4
    started = time.monotonic()
    ctx.close()
    assert time.monotonic() - started < 0.2
    assert not with_environment(marked)
    for pid in [*pids, bash]:
        wait_for(lambda pid=pid: not process_alive(pid), timeout=1)


# --- inside the sandbox ------------------------------------------------------------------------------------------


def test_capture_and_jobs_work_inside_the_sandbox(workspace: Path) -> None:
    ctx = ToolContext(workspace=workspace, sandbox=Sandbox())
    try:
        assert run(ctx, "run_shell", command="echo boxed; seq 1 3").text == "boxed\n1\n2\n3\n[exit code 0]"
        job_id = run(ctx, "run_shell", command="echo from-job", background=True).data["job_id"]
        wait_for(lambda: not ctx.jobs.get(job_id).running())
        assert run(ctx, "job_output", job_id=job_id).text == "from-job\n[job 1 exited with code 0]"
        assert run(ctx, "run_shell", command="mkdir -p sub; cd sub; export X=1; sleep 100", timeout=1).data["timed_out"]
        assert run(ctx, "run_shell", command='pwd; echo "X=$X"').text.splitlines()[:2] == [
            str(workspace / "sub"),
            "X=1",
        ]
    finally:
        ctx.close()


@dataclass(frozen=True)
class NoTerminalSandbox(Sandbox):
    """The real sandbox, started as for sii's git calls: in a new session, so bash has no terminal (no job
    control, no foreground group to interrupt)."""

    def command(self, workspace: Path, **options: Any) -> list[str]:
        return super().command(workspace, **{**options, "own_terminal": False})


@pytest.mark.parametrize("sandbox", [Sandbox(), NoTerminalSandbox()], ids=["own-terminal", "no-terminal"])
def test_jobs_die_and_state_survives_in_the_sandbox(workspace: Path, sandbox: Sandbox) -> None:
    ctx = ToolContext(workspace=workspace, sandbox=sandbox)
    try:
        run(ctx, "run_shell", command="mkdir -p sub; cd sub; export X=1")
        assert run(ctx, "run_shell", command="sleep 100", timeout=1).data["timed_out"]
        assert run(ctx, "run_shell", command='pwd; echo "X=$X"').text.splitlines()[:2] == [
            str(workspace / "sub"),
            "X=1",
        ]
        started = run(ctx, "run_shell", command="(sleep 400; echo late) & sleep 401; echo after", background=True)
        job = ctx.jobs.get(started.data["job_id"])
        mark = f"SII_JOB_MARK={job.mark}"
        wait_for(lambda: len(with_environment(mark)) >= 2)
        assert process_alive(started.data["pid"]) and with_environment(f"SII_SESSION_MARK={ctx.shell.scratch.mark}")
        run(ctx, "kill_job", job_id=job.id)
        wait_for(lambda: not with_environment(mark) and not process_alive(started.data["pid"]), timeout=3)
        time.sleep(0.2)
        assert run(ctx, "job_output", job_id=job.id).text == "(no new output)\n[job 1 was killed]"
        session = f"SII_SESSION_MARK={ctx.shell.scratch.mark}"
    finally:
        ctx.close()
    wait_for(lambda: not with_environment(session), timeout=2)
