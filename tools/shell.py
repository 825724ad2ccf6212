"""run_shell: one persistent bash per session (through pexpect), so cwd, env and venvs survive between calls."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import pexpect

from tools.base import Observation, Tool, ToolContext
from tools.text import cap_output, strip_ansi

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 600.0
_QUIET_ENV = {"TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "NO_COLOR": "1", "GIT_EDITOR": "true"}


class PersistentShell:
    """A bash kept alive across calls. Commands are sourced from a file so quoting and heredocs just work,
    and a syntax error cannot leave bash waiting for more input."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._nonce = secrets.token_hex(6)
        self._prompt = re.compile(rf"__SII_{self._nonce}_(\d+)__")
        self._scratch = Path(tempfile.mkdtemp(prefix="sii-shell-"))
        self.child: pexpect.spawn | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = {**os.environ, **_QUIET_ENV}
        self.child = pexpect.spawn(
            "/bin/bash",
            ["--noprofile", "--norc", "--noediting"],
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


def run_shell(args: dict[str, Any], ctx: ToolContext) -> Observation:
    shell = ctx.resources.get("shell")
    if shell is None:
        shell = ctx.resources["shell"] = PersistentShell(ctx.workspace)
    timeout = min(float(args.get("timeout", DEFAULT_TIMEOUT_S)), MAX_TIMEOUT_S)
    result = shell.run(args["command"], timeout)
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


RUN_SHELL = Tool(
    "run_shell",
    "Run a bash command in a persistent shell rooted at the workspace (cwd and environment persist). "
    "stdout and stderr are merged. Do not start interactive programs.",
    {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {"type": "number", "description": f"Seconds (default {DEFAULT_TIMEOUT_S:g})."},
        },
        "required": ["command"],
    },
    run_shell,
    mutates=True,
)
