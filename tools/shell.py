"""run_shell: one persistent bash per session (through pexpect), so cwd, env and venvs survive between calls.
Background jobs (servers, watchers, long builds) start from that same shell and are read with job_output.

A command's stdout and stderr go to a capped file in the session's private folder, not through the terminal:
the terminal only carries a sentinel with a fresh nonce per call, so no output can be taken for it, capture
runs at disk speed, and neither `exec >/dev/null` nor a printed prompt can desynchronise the shell."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import time
from pathlib import Path
from shlex import quote
from typing import Any

import pexpect

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.caplog import Cap, Window, create, open_regular, read_small, read_window, trim
from tools.processes import JOB_MARK, process_alive, signal_group, terminate
from tools.sandbox import Sandbox
from tools.sandbox import host_pid as sandbox_host_pid
from tools.schema import boolean, integer, number, obj, string
from tools.scratch import CLOSE_GRACE_S, Scratch
from tools.text import strip_ansi

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 600.0
OUTPUT_CAP = Cap(head=4 << 20, tail=4 << 20)  # what one command's output keeps on disk
JOB_CAP = Cap(head=4 << 20, tail=4 << 20)  # what one background job's log keeps on disk
SHOWN_BYTES = 20_000  # what the model sees of one output: its head and tail
KEPT_OUTPUTS = 8  # the last outputs stay on disk for the user and the model
_QUIET_ENV = {"TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "NO_COLOR": "1", "GIT_EDITOR": "true"}
_BASH = ["/bin/bash", "--noprofile", "--norc", "--noediting"]
# No history file, no prompts (the terminal carries only sentinels), and the marker cannot be unset.
_SETUP = "set +o history; unset HISTFILE; PS1=''; PS2=''; PS0=''; PROMPT_COMMAND=''; declare -r SII_SESSION_MARK"
_SLICE_S = 0.05  # how often a running command's output file is trimmed
_SENTINEL_WINDOW = 256
_SYNC_S = 2.0  # how long an interrupted shell gets to come back


class ShellStartError(ToolError):
    """bash did not come up (or not in time)."""


class PersistentShell:
    """A bash kept alive across calls. Commands are sourced from a file so quoting and heredocs just work,
    and a syntax error cannot leave bash waiting for more input. In the session's private folder, `scripts`
    holds what sii writes for bash to run (read-only in the sandbox) and `tmp_dir` what bash writes: output,
    job logs, its state snapshot (read-write in the sandbox; sii opens nothing there through a link)."""

    def __init__(
        self, cwd: Path, sandbox: Sandbox | None = None, session_id: str = "", scratch: Path | None = None
    ) -> None:
        self.cwd = cwd
        self.sandbox = sandbox
        self.scratch = Scratch(session_id, scratch)
        # Only these parts of the private folder are the shell's (its owner and marker files stay out of reach).
        self.scripts, self.tmp_dir = self.scratch.path / "scripts", self.scratch.path / "shell"
        self.scripts.mkdir(mode=0o700)
        self.tmp_dir.mkdir(mode=0o700)
        self.child: pexpect.spawn | None = None
        self.restarts = 0
        self._calls = 0
        self.current_output: str | None = None  # the output file of the command running now, for a live view
        self._pending = secrets.token_hex(8)  # the nonce of a sentinel not seen yet (after a timeout)

    def _environment(self) -> dict[str, str]:
        """What bash adds to its environment: quiet tools, no history file, the marker that finds its processes."""
        return {**_QUIET_ENV, "HISTFILE": "/dev/null", **self.scratch.env()}

    def _spawn_command(self) -> list[str]:
        command = list(_BASH)
        # The one place the sandbox applies (tools/sandbox.py); it clears the environment, so ours goes in here.
        if self.sandbox is not None:
            confined = self.sandbox.command(
                self.cwd,
                env=self._environment(),
                read_only=[self.scripts],
                writable=[self.tmp_dir],
                own_terminal=True,
            )
            command = [*confined, *command]
        return command

    def host_pid(self, inner: int) -> int | None:
        """The host's number for a pid bash reports ($$, $!): a sandbox has a pid namespace of its own."""
        if self.sandbox is None or self.child is None:
            return inner
        return sandbox_host_pid(self.child.pid, inner)

    def _file(self, name: str) -> Path:
        return self.tmp_dir / name

    def _start(self, restore: bool) -> None:
        """Start bash; with `restore`, back in the last cwd with the exported variables of the last call."""
        command = self._spawn_command()
        env = {**os.environ, **self._environment()}
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
        self.child.ptyproc.delayafterclose = 0  # and 0.1 s after closing: close must be fast
        self._pending = secrets.token_hex(8)
        setup = _SETUP
        if restore and self._file("env").exists():
            env_file, cwd_file = quote(str(self._file("env"))), quote(str(self._file("cwd")))
            setup += f'; builtin . {env_file} >/dev/null 2>&1; builtin cd -- "$(< {cwd_file})" >/dev/null 2>&1'
        setup += f"; builtin echo $$ >{quote(str(self._file('bash.pid')))}"
        if self._exchange(f"{setup}; __sii_status=0", timeout=10) is None:
            self._kill()
            raise ShellStartError("bash did not start within 10 s")

    def alive(self) -> bool:
        return self.child is not None and self.child.isalive()

    def _snapshot(self) -> str:
        """Shell code that records cwd and the exported variables, to restore them if bash must restart."""
        cwd, env = quote(str(self._file("cwd"))), quote(str(self._file("env")))
        return f"builtin pwd >{cwd} 2>/dev/null; builtin export -p >{env} 2>/dev/null"

    def _exchange(self, body: str, timeout: float, output: int | None = None) -> int | None:
        """Send `body`, then a sentinel with a fresh nonce written straight to the terminal (fd 0 is its
        read-write end, whatever the command did to fd 1 and 2); wait for it. Returns `$__sii_status` from the
        sentinel, None on timeout; raises pexpect.EOF when bash exits. `output`: an fd to keep trimmed meanwhile."""
        assert self.child is not None
        nonce = secrets.token_hex(8)
        # An interrupted call may still finish on its own (a builtin like `read` can swallow the next line):
        # its sentinel then answers as well.
        sentinel = re.compile(rf"__SII_(?:{nonce}|{self._pending})_(\d+)__")
        self._pending = nonce
        self.child.sendline(f"{body}; builtin printf '__SII_%s_%s__\\n' {nonce} \"$__sii_status\" >&0")
        deadline, window = time.monotonic() + timeout, ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                window = (window + self.child.read_nonblocking(1 << 16, timeout=min(_SLICE_S, left)))[
                    -_SENTINEL_WINDOW:
                ]
            except pexpect.TIMEOUT:
                if not self.child.isalive():
                    raise pexpect.EOF("bash exited") from None
            found = sentinel.search(window)
            if found:
                self._pending = secrets.token_hex(8)  # never sent: matches nothing
                return int(found.group(1))
            if output is not None:
                trim(output, OUTPUT_CAP)

    def _ensure_started(self) -> bool:
        """Start bash if it is not running; True when this was a restart."""
        if self.alive():
            return False
        restarted = self.child is not None
        self.restarts += restarted
        self._kill()  # closes the old terminal
        self._start(restore=restarted)
        return restarted

    def launch(self, line: str) -> bool:
        """Run one line of our own in bash itself, outside any capture (a job launch); False if it hung."""
        self._ensure_started()
        return self._exchange(f"{line}; __sii_status=$?", timeout=10) is not None

    def run(self, command: str, timeout: float) -> dict[str, Any]:
        """Run `command`; returns its output window, exit code (None on timeout), wall time, the output file,
        and whether bash restarted (after an exit, or a command that ignored the interrupt)."""
        restarted = self._ensure_started()
        self._calls += 1
        script, out = self.scripts / "command.sh", self._file(f"out-{self._calls}.log")
        script.write_text(command + "\n", encoding="utf-8")
        self._file(f"out-{self._calls - KEPT_OUTPUTS}.log").unlink(missing_ok=True)
        fd = create(str(out), os.O_RDWR)
        self.current_output = str(out)
        body = f"{{ builtin . {quote(str(script))}; }} >{quote(str(out))} 2>&1; __sii_status=$?; {self._snapshot()}"
        started = time.monotonic()
        exit_code, timed_out, exited, recovered = None, False, False, True
        try:
            exit_code = self._exchange(body, timeout, output=fd)
            timed_out = exit_code is None
            if timed_out:
                recovered = self._interrupt()
        except pexpect.EOF:
            exited = True
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            self.current_output = None
            trim(fd, OUTPUT_CAP)
            os.close(fd)
        return {
            "window": read_window(str(out), 0, SHOWN_BYTES),
            "output_file": str(out),
            "exit_code": exit_code,
            "timed_out": timed_out,
            "shell_exited": exited,
            "restarted": restarted,
            "lost_shell": not recovered,
            "wall_time_s": round(time.monotonic() - started, 3),
        }

    def _interrupt(self) -> bool:
        """SIGINT the terminal's foreground group (the command, or bash itself in a builtin) and wait for bash
        to answer; then SIGKILL that group; if bash still does not answer, kill it: the next call restarts it
        with the last cwd and exported variables. Returns whether bash survived."""
        assert self.child is not None
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                group = os.tcgetpgrp(self.child.child_fd)
            except OSError:
                group = self.child.pid
            if sig == signal.SIGKILL and group == self.child.pid:
                break  # bash itself ignores the interrupt: only a restart helps
            signal_group(group, sig)
            time.sleep(0.02)  # let it land before the next line arrives
            try:
                # Point bash's own stdout back at the terminal, in case the interrupt left a redirection on.
                if self._exchange(f"exec 1>&0 2>&0; __sii_status=130; {self._snapshot()}", _SYNC_S) is not None:
                    return True
            except pexpect.EOF:
                return False
        self._kill()
        return False

    def _kill(self) -> None:
        """End bash and its foreground group at once (jobs live in groups of their own and stay). Its cwd is
        kept first: the command being killed may have changed it since the last snapshot."""
        if self.child is None or self.child.closed:
            return
        if not self.child.isalive():  # reaped already: its pid may belong to someone else by now
            self.child.close(force=True)
            return
        with contextlib.suppress(OSError, ValueError):
            bash = self.host_pid(int(read_small(str(self._file("bash.pid")))))
            if bash is not None:
                cwd = create(str(self._file("cwd")))
                os.write(cwd, os.readlink(f"/proc/{bash}/cwd").encode() + b"\n")
                os.close(cwd)
        try:
            group = os.tcgetpgrp(self.child.child_fd)
        except OSError:
            group = 0
        for leader in {self.child.pid, group}:
            signal_group(leader, signal.SIGKILL)
        deadline = time.monotonic() + 1.0
        while self.child.isalive() and time.monotonic() < deadline:  # reaps it; SIGKILL takes a moment
            time.sleep(0.001)
        self.child.close(force=True)

    def close(self) -> None:
        """Kill bash and everything the session started, at once, and remove the private folder."""
        self._kill()
        self.scratch.close()


# A trailing `&` that is not part of `&&`, `|&` or a redirection like `2>&`.
_TRAILING_AMPERSAND = re.compile(r"(?<![&|>])&\s*$")
_KILL_GRACE_S = 2.0
_TAIL_BYTES = 1 << 20  # tail_lines looks at most this far back
_DRAIN_S = 0.5  # how long a finished job's last output may take to reach its log


class Job:
    """One background command: its process group, marker, capped log, and how much of the log was read."""

    def __init__(self, job_id: int, command: str, script: Path, folder: Path) -> None:
        self.id = job_id
        self.command = command
        self.mark = secrets.token_hex(8)
        self.script = script
        self.log, self.exit_file, self.pid_file = folder / "log", folder / "exit", folder / "pid"
        self.pid = 0
        self.read_offset = 0
        self.killed = False

    def exit_code(self) -> int | None:
        """The command's exit status, written by the wrapper when it finishes; None while running or if killed."""
        text = read_small(str(self.exit_file)).strip()  # the shell writes it: no link followed
        return int(text) if text.isdigit() else None

    def running(self) -> bool:
        if self.exit_code() is not None:
            return False
        return process_alive(self.pid)

    def settled(self) -> None:
        """Once it has finished, wait (briefly) until the watchdog has copied its last output into the log."""
        deadline = time.monotonic() + _DRAIN_S
        while not Path(f"{self.log}.done").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


class JobTable:
    """The session's background jobs. Each runs in a subshell of the persistent bash, so it inherits cwd, env,
    functions and venvs, but with its own process group and marker, stdin from /dev/null, output through a
    FIFO into a capped log, and SIGHUP ignored (like nohup): a shell restart does not kill it, closing the
    session (or sii dying) does."""

    def __init__(self, shell: PersistentShell) -> None:
        self._shell = shell
        self._jobs: dict[int, Job] = {}

    def start(self, command: str) -> Job:
        shell = self._shell
        job_id = len(self._jobs) + 1
        folder = shell.tmp_dir / f"job-{job_id}"
        if folder.is_symlink():  # whatever the shell may have put there first goes (links not followed)
            folder.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
        job = Job(job_id, command, shell.scripts / f"job-{job_id}.sh", folder)
        job.script.write_text(command + "\n", encoding="utf-8")
        fifo = folder / "fifo"
        os.mkfifo(fifo, 0o600)
        os.close(create(str(job.log)))  # job_output may come before the watchdog opens it
        shell.scratch.capture(fifo, job.log, JOB_CAP)
        # `exec 255>&-` drops bash's copy of the terminal, which would keep the pty open after the shell exits.
        launch = (
            f"{{ exec 255>&-; ( export {JOB_MARK}={job.mark}; trap '' HUP; builtin . {quote(str(job.script))} ); "
            f"builtin echo $? > {quote(str(job.exit_file))}; }} >> {quote(str(fifo))} 2>&1 < /dev/null & "
            f"builtin echo $! > {quote(str(job.pid_file))}; disown $!"
        )
        try:
            shell.launch(launch)
            inner = int(read_small(str(job.pid_file)))
        except (OSError, ValueError, pexpect.EOF):
            raise ToolError("could not start the background job: the shell did not answer") from None
        job.pid = shell.host_pid(inner) or 0  # 0: it has finished already
        self._jobs[job_id] = job
        return job

    def get(self, job_id: int | str) -> Job:
        try:
            return self._jobs[int(job_id)]
        except (KeyError, ValueError):
            known = ", ".join(str(key) for key in self._jobs) or "none"
            raise ToolError(f"no background job {job_id!r} (jobs: {known})") from None

    def kill(self, job: Job, grace_s: float = _KILL_GRACE_S) -> None:
        """SIGTERM the job's process group and everything carrying its marker, SIGKILL what is left after the
        grace period."""
        if not job.running():
            return
        job.killed = True
        terminate([(JOB_MARK, job.mark)], [job.pid], grace_s=grace_s)

    def close(self) -> None:
        for job in self._jobs.values():
            self.kill(job, grace_s=CLOSE_GRACE_S)


def _shell(ctx: ToolContext) -> PersistentShell:
    if ctx.shell is None:
        ctx.shell = PersistentShell(ctx.workspace, ctx.sandbox, ctx.session_id, ctx.scratch)
    return ctx.shell


def _jobs(ctx: ToolContext) -> JobTable:
    if ctx.jobs is None:
        ctx.jobs = JobTable(_shell(ctx))
    return ctx.jobs


def _text(window: Window, where: str = "", cap: Cap = OUTPUT_CAP) -> str:
    """What the model sees of an output window: clean text, and a note of what was cut and where it all is."""
    head = strip_ansi(window.head.decode("utf-8", "replace").replace("\r\n", "\n"))
    tail = strip_ansi(window.tail.decode("utf-8", "replace").replace("\r\n", "\n"))
    if window.cut:
        kept = (
            f"; the output is kept (its first {cap.head >> 20} and last {cap.tail >> 20} MB) in {where}"
            if where
            else ""
        )
        head = f"{head.rstrip(chr(10))}\n[... {window.cut} bytes elided{kept} ...]\n"
    return f"{head}{tail}".strip("\n")  # the window bounds it already: SHOWN_BYTES, plus the note


def kept_output(path: str) -> str | None:
    """All of a command's output still on disk (its first and last MB, see OUTPUT_CAP), for the person who asks
    for it (/output); None once the file has gone (only the last KEPT_OUTPUTS outputs are kept)."""
    window = read_window(path, 0, OUTPUT_CAP.head + OUTPUT_CAP.tail)
    if not window.end:
        return None
    return _text(window)


def run_shell(args: dict[str, Any], ctx: ToolContext) -> Observation:
    command = args["command"]
    if (background := background_command(command)) is not None:
        return start_job(background, ctx)
    if args.get("background"):
        return start_job(command, ctx)
    timeout = min(float(args.get("timeout", DEFAULT_TIMEOUT_S)), MAX_TIMEOUT_S)
    text, notes, data = run_foreground(command, timeout, ctx)
    if not data["timed_out"] and not data["shell_exited"]:
        notes.append(f"[exit code {data['exit_code']}]")
    body = "\n".join([text, *notes]) if text else "\n".join(notes)
    return Observation(body, is_error=data["exit_code"] != 0, data=data)


def run_foreground(command: str, timeout: float, ctx: ToolContext) -> tuple[str, list[str], dict[str, Any]]:
    """Run `command` in the session's shell and wait: its output as the model reads it, notes on what went wrong
    (a restart, a timeout, the shell exiting), and the facts for the recording (exit code, output file...). One
    run for every shell tool, whatever shape its observation takes."""
    shell = _shell(ctx)
    result = shell.run(command, timeout)
    notes = []
    if result["restarted"]:
        notes.append(
            "[the shell had exited and was restarted in the last directory with the exported variables; "
            "unexported variables, functions and aliases were lost]"
        )
    text = _text(result["window"], result["output_file"])
    if result["timed_out"]:
        notes.append(
            f"[timed out after {timeout:g}s and was interrupted; if it was waiting for input, run it non-interactively]"
        )
        if result["lost_shell"]:
            notes.append("[the command ignored the interrupt, so the shell was killed; the next call restarts it]")
    elif result["shell_exited"]:
        notes.append("[the shell exited; a fresh one starts on the next call]")
    data = {key: value for key, value in result.items() if key != "window"}
    data["output_bytes"] = result["window"].end
    return text, notes, data


def background_command(command: str) -> str | None:
    """The command without its trailing `&` when it asks to run in the background, else None."""
    return _TRAILING_AMPERSAND.sub("", command) if _TRAILING_AMPERSAND.search(command) else None


def start_job(command: str, ctx: ToolContext) -> Observation:
    job = _jobs(ctx).start(command)
    text = f"Started background job {job.id} (pid {job.pid}). Read its output with job_output, stop it with kill_job."
    return Observation(text, data={"job_id": job.id, "pid": job.pid})


def job_output(args: dict[str, Any], ctx: ToolContext) -> Observation:
    job = _jobs(ctx).get(args["job_id"])
    # Status first: the exit code is written after the last output, so a finished job's log is complete.
    exit_code, running = job.exit_code(), job.running()
    if not running:
        job.settled()
    if args.get("tail_lines"):
        size = job.log.lstat().st_size
        window = read_window(str(job.log), max(0, size - _TAIL_BYTES), _TAIL_BYTES)
        text = "\n".join(_text(window).splitlines()[-int(args["tail_lines"]) :])
    else:
        window = read_window(str(job.log), job.read_offset, SHOWN_BYTES)
        text = _text(window, str(job.log), JOB_CAP)
    job.read_offset = max(job.read_offset, window.end)
    if running:
        status = f"[job {job.id} is still running]"
    elif exit_code is not None:
        status = f"[job {job.id} exited with code {exit_code}]"
    else:
        status = f"[job {job.id} was killed]" if job.killed else f"[job {job.id} ended without an exit code]"
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
    "stdout and stderr are merged; long output is cut to its head and tail. Do not start interactive programs. "
    "For servers, watchers or long builds set background=true (or end the command with `&`): it returns a job "
    "id at once; read it with job_output.",
    obj(
        command=string(),
        timeout=number(f"Seconds (default {DEFAULT_TIMEOUT_S:g})."),
        background=boolean("Start as a background job and return its id."),
        required=["command"],
        closed=False,
    ),
    run_shell,
    mutates=True,
    shell_command=lambda args: args.get("command"),
)

JOB_OUTPUT = Tool(
    "job_output",
    "Read a background job's output: what it printed since the last read (or its last tail_lines lines), "
    "whether it is still running, and its exit code once done.",
    obj(
        job_id=integer(),
        tail_lines=integer("Show only the last N lines of all its output."),
        required=["job_id"],
        closed=False,
    ),
    job_output,
)
KILL_JOB = Tool(
    "kill_job",
    "Stop a background job and everything it started (SIGTERM, then SIGKILL after 2 s).",
    obj(job_id=integer(), required=["job_id"], closed=False),
    kill_job,
    mutates=True,
)


LIVE_TAIL_BYTES = 8192


def live_tail(ctx: ToolContext, lines: int = 5) -> list[str]:
    """The last lines the running shell command has printed so far (none when no command runs), for a live
    view while it runs; read through no link, a bounded number of bytes."""
    path = ctx.shell.current_output if ctx.shell is not None else None
    fd = open_regular(path) if path else None
    if fd is None:
        return []
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, LIVE_TAIL_BYTES, max(0, size - LIVE_TAIL_BYTES))
    finally:
        os.close(fd)
    text = strip_ansi(data.decode("utf-8", "replace")) if data else ""
    return [line.replace("\r", "") for line in text.splitlines()[-lines:]]
