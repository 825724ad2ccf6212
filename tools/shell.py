"""run_shell: one persistent bash per session (through pexpect), so cwd, env and venvs survive between calls.
Background jobs (servers, watchers, long builds) start from that same shell and are read with job_output."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path
from shlex import quote
from typing import Any

import pexpect

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.processes import process_alive
from tools.sandbox import Sandbox, create_shared, host_pid, open_shared
from tools.text import cap_output, strip_ansi

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 600.0
_QUIET_ENV = {"TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "NO_COLOR": "1", "GIT_EDITOR": "true"}


class PersistentShell:
    """A bash kept alive across calls. Commands are sourced from a file so quoting and heredocs just work,
    and a syntax error cannot leave bash waiting for more input."""

    def __init__(
        self,
        cwd: Path,
        sandbox: Sandbox | None = None,
        read_only: tuple[Path, ...] = (),
        writable: tuple[Path, ...] = (),
    ) -> None:
        """`read_only` and `writable`: host directories the sandboxed shell must see too (the jobs' scripts, logs)."""
        self.cwd = cwd
        self.sandbox = sandbox
        self._shared = read_only, writable
        self._nonce = secrets.token_hex(6)
        self._prompt = re.compile(rf"__SII_{self._nonce}_(\d+)__")
        self._scratch = Path(tempfile.mkdtemp(prefix="sii-shell-"))
        self.child: pexpect.spawn | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = {**os.environ, **_QUIET_ENV}
        command = ["/bin/bash", "--noprofile", "--norc", "--noediting"]
        if self.sandbox is not None:
            read_only, writable = self._shared
            confined = self.sandbox.command(
                self.cwd, env=_QUIET_ENV, read_only=[self._scratch, *read_only], writable=writable, own_terminal=True
            )
            command = [*confined, *command]
        self.child = pexpect.spawn(
            command[0],
            command[1:],
            cwd=str(self.cwd),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            echo=False,
            dimensions=(50, 200),
        )
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default; echo is off anyway
        self.child.sendline(f"stty -echo; PS1='__SII_{self._nonce}_$?__'; PS2=''; unset PROMPT_COMMAND")
        self.child.expect(self._prompt, timeout=10)

    def alive(self) -> bool:
        return self.child is not None and self.child.isalive()

    def run(self, command: str, timeout: float) -> dict[str, Any]:
        """Run `command`; returns output, exit code (None on timeout), wall time and whether bash restarted."""
        restarted = False
        if not self.alive():
            restarted = self.child is not None
            self.restarts += restarted
            self._start()
        assert self.child is not None
        script = self._scratch / "command.sh"
        script.write_text(command + "\n", encoding="utf-8")
        started = time.monotonic()
        self.child.sendline(f". {script}")
        try:
            self.child.expect(self._prompt, timeout=timeout)
            exit_code: int | None = int(self.child.match.group(1))
            timed_out = False
        except pexpect.TIMEOUT:
            exit_code, timed_out = None, True
            self._interrupt()
        except pexpect.EOF:
            exit_code, timed_out = None, False
        except KeyboardInterrupt:
            self._interrupt()
            raise
        output = (self.child.before or "").replace("\r\n", "\n")
        return {
            "output": output,
            "exit_code": exit_code,
            "timed_out": timed_out,
            "shell_exited": not self.child.isalive(),
            "restarted": restarted,
            "wall_time_s": round(time.monotonic() - started, 3),
        }

    def _interrupt(self) -> None:
        """Ctrl-C the running command; if bash does not come back to its prompt, kill it (restarted next call)."""
        assert self.child is not None
        before = self.child.before
        self.child.sendintr()
        try:
            self.child.expect(self._prompt, timeout=5)
            self.child.before = (before or "") + (self.child.before or "")
        except (pexpect.TIMEOUT, pexpect.EOF):
            self.child.terminate(force=True)
            self.child.before = before

    def close(self) -> None:
        if self.child is not None and self.child.isalive():
            self.child.terminate(force=True)
        for leftover in self._scratch.glob("*"):
            leftover.unlink()
        self._scratch.rmdir()


# A trailing `&` that is not part of `&&`, `|&` or a redirection like `2>&`.
_TRAILING_AMPERSAND = re.compile(r"(?<![&|>])&\s*$")
_JOB_PID = re.compile(r"__SII_JOB_(\d+)__")
_KILL_GRACE_S = 2.0
_TAIL_BYTES = 1 << 20  # tail_lines looks at most this far back


class Job:
    """One background command: its process group, its log file, how much of the log the model has read."""

    def __init__(self, job_id: int, command: str, pid: int | None, log: Path, exit_file: Path) -> None:
        self.id = job_id
        self.command = command
        self.pid = pid
        self.log = log
        self.exit_file = exit_file
        self.read_offset = 0
        self.killed = False

    def exit_code(self) -> int | None:
        """The command's exit status, written by the wrapper when it finishes; None while running or if killed."""
        handle = open_shared(self.exit_file)  # the (sandboxed) shell writes it: no links followed
        if handle is None:
            return None
        with handle:
            text = handle.read(32).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None

    def running(self) -> bool:
        if self.exit_code() is not None:
            return False
        return self.pid is not None and process_alive(self.pid)


class JobTable:
    """The session's background jobs. Each runs in a subshell of the persistent bash, so it inherits cwd, env,
    functions and venvs, but with its own process group, stdin from /dev/null, output to a log file and SIGHUP
    ignored (like nohup): a shell restart does not kill it, closing the session does."""

    def __init__(self) -> None:
        self.scripts = Path(tempfile.mkdtemp(prefix="sii-jobs-"))  # scripts: only sii writes here
        self.output = Path(tempfile.mkdtemp(prefix="sii-job-output-"))  # logs and exit codes: the shell writes
        self._jobs: dict[int, Job] = {}

    def start(self, shell: PersistentShell, command: str) -> Job:
        job_id = len(self._jobs) + 1
        script = self.scripts / f"{job_id}.sh"
        log, exit_file = self.output / f"{job_id}.log", self.output / f"{job_id}.exit"
        script.write_text(command + "\n", encoding="utf-8")
        create_shared(log)  # the subshell opens it asynchronously; job_output may come first
        # `exec 255>&-` drops bash's copy of the terminal, which would keep the pty open after the shell exits.
        launch = (
            f"{{ exec 255>&-; ( trap '' HUP; . {quote(str(script))} ); echo $? > {quote(str(exit_file))}; }} "
            f">> {quote(str(log))} 2>&1 < /dev/null & "
            f"disown $!; echo __SII_JOB_$!__"
        )
        result = shell.run(launch, timeout=10)
        found = _JOB_PID.search(result["output"])
        if found is None:
            raise ToolError(f"could not start the background job: {result['output'].strip()[:500]}")
        pid: int | None = int(found.group(1))
        if shell.sandbox is not None and shell.child is not None:
            pid = host_pid(shell.child.pid, pid)  # $! is the sandbox's number; None: already gone
        job = self._jobs[job_id] = Job(job_id, command, pid, log, exit_file)
        return job

    def get(self, job_id: int | str) -> Job:
        try:
            return self._jobs[int(job_id)]
        except (KeyError, ValueError):
            known = ", ".join(str(key) for key in self._jobs) or "none"
            raise ToolError(f"no background job {job_id!r} (jobs: {known})") from None

    def kill(self, job: Job) -> None:
        """SIGTERM the job's process group, then SIGKILL whatever is left after a grace period."""
        if job.pid is None or not job.running():
            return
        job.killed = True
        _signal_group(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_GRACE_S
        while job.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        if job.running():
            _signal_group(job.pid, signal.SIGKILL)

    def close(self) -> None:
        for job in self._jobs.values():
            self.kill(job)
        shutil.rmtree(self.scripts, ignore_errors=True)
        shutil.rmtree(self.output, ignore_errors=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the job's process group (bash's job control gives each job its own); just the pid if it has none."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _shell(ctx: ToolContext) -> PersistentShell:
    shell = ctx.resources.get("shell")
    if shell is None:
        jobs = _jobs(ctx)
        shell = PersistentShell(ctx.workspace, ctx.resources.get("sandbox"), (jobs.scripts,), (jobs.output,))
        ctx.resources["shell"] = shell
    return shell


def _jobs(ctx: ToolContext) -> JobTable:
    table = ctx.resources.get("jobs")
    if table is None:
        table = ctx.resources["jobs"] = JobTable()
    return table


def run_shell(args: dict[str, Any], ctx: ToolContext) -> Observation:
    command = args["command"]
    if _TRAILING_AMPERSAND.search(command):
        return _start_job(_TRAILING_AMPERSAND.sub("", command), ctx)
    if args.get("background"):
        return _start_job(command, ctx)
    shell = _shell(ctx)
    timeout = min(float(args.get("timeout", DEFAULT_TIMEOUT_S)), MAX_TIMEOUT_S)
    result = shell.run(command, timeout)
    notes = []
    if result["restarted"]:
        notes.append("[the shell had exited and was restarted: cwd and environment were reset]")
    text = cap_output(strip_ansi(result["output"]).strip("\n"))
    if result["timed_out"]:
        notes.append(
            f"[timed out after {timeout:g}s and was interrupted; if it was waiting for input, run it non-interactively]"
        )
    elif result["shell_exited"]:
        notes.append("[the shell exited; a fresh one starts on the next call]")
    else:
        notes.append(f"[exit code {result['exit_code']}]")
    body = "\n".join([text, *notes]) if text else "\n".join(notes)
    data = {key: value for key, value in result.items() if key != "output"}
    return Observation(body, is_error=result["exit_code"] != 0, data=data)


def _start_job(command: str, ctx: ToolContext) -> Observation:
    job = _jobs(ctx).start(_shell(ctx), command)
    text = f"Started background job {job.id} (pid {job.pid}). Read its output with job_output, stop it with kill_job."
    return Observation(text, data={"job_id": job.id, "pid": job.pid})


def job_output(args: dict[str, Any], ctx: ToolContext) -> Observation:
    job = _jobs(ctx).get(args["job_id"])
    # Status first: the exit code is written after the last output, so a finished job's log is complete.
    exit_code, running = job.exit_code(), job.running()
    with open_shared(job.log) or io.BytesIO() as log:  # the log is the shell's to write: no links followed
        if args.get("tail_lines"):
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - _TAIL_BYTES))
            lines = log.read().decode("utf-8", "replace").splitlines()[-int(args["tail_lines"]) :]
            text = "\n".join(lines)
        else:
            log.seek(job.read_offset)
            text = log.read().decode("utf-8", "replace").rstrip("\n")
        job.read_offset = log.tell()
    if running:
        status = f"[job {job.id} is still running]"
    elif exit_code is not None:
        status = f"[job {job.id} exited with code {exit_code}]"
    else:
        status = f"[job {job.id} was killed]" if job.killed else f"[job {job.id} ended without an exit code]"
    text = cap_output(strip_ansi(text.replace("\r\n", "\n")))
    body = f"{text}\n{status}" if text else f"(no new output)\n{status}"
    data = {"job_id": job.id, "running": running, "exit_code": exit_code, "killed": job.killed}
    return Observation(body, is_error=exit_code not in (None, 0), data=data)


def kill_job(args: dict[str, Any], ctx: ToolContext) -> Observation:
    table = _jobs(ctx)
    job = table.get(args["job_id"])
    if not job.running():
        return Observation(f"Job {job.id} had already finished (exit code {job.exit_code()}).", data={"killed": False})
    table.kill(job)
    return Observation(f"Killed job {job.id} ({job.command[:80]}).", data={"killed": True})


RUN_SHELL = Tool(
    "run_shell",
    "Run a bash command in a persistent shell rooted at the workspace (cwd and environment persist). "
    "stdout and stderr are merged. Do not start interactive programs. For servers, watchers or long builds set "
    "background=true (or end the command with `&`): it returns a job id at once; read it with job_output.",
    {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "number", "description": f"Seconds (default {DEFAULT_TIMEOUT_S:g})."},
            "background": {"type": "boolean", "description": "Start as a background job and return its id."},
        },
        "required": ["command"],
    },
    run_shell,
    mutates=True,
)

JOB_OUTPUT = Tool(
    "job_output",
    "Read a background job's output: what it printed since the last read (or its last tail_lines lines), "
    "whether it is still running, and its exit code once done.",
    {
        "type": "object",
        "properties": {
            "job_id": {"type": "integer"},
            "tail_lines": {"type": "integer", "description": "Show only the last N lines of all its output."},
        },
        "required": ["job_id"],
    },
    job_output,
)
KILL_JOB = Tool(
    "kill_job",
    "Stop a background job and everything it started (SIGTERM, then SIGKILL after 2 s).",
    {"type": "object", "properties": {"job_id": {"type": "integer"}}, "required": ["job_id"]},
    kill_job,
    mutates=True,
)
