"""`sii -p "task"`: one turn without a terminal UI. Output formats: `text` (the final answer on stdout,
tool activity on stderr), `json` (one result object), `stream-json` (every event as a JSON line, then the
result object), for scripts and SDK clients. A script must be able to trust the exit code: a refused action,
a server that is down and a turn that failed each say so there and in the result object."""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path
from typing import IO, Any, Literal, cast

from rich.console import Console

from model_server.endpoint import EndpointError, resolve_endpoint
from sii.client import ModelError
from sii.config import Settings
from sii.events import ErrorEvent, Event, ToolCallStreaming, ToolResult, event_to_dict
from sii.render import Renderer
from sii.session import Session, SessionError

OutputFormat = Literal["text", "json", "stream-json"]
# 0 done, 1 the model server failed, 2 sii could not start, 3 the step limit was reached, 4 the turn ended but
# some actions were refused (approval needed: run with --yolo or allow them), 130 interrupted.
EXIT_CODES = {
    "done": 0,
    "error": 1,
    "could_not_start": 2,
    "step_limit": 3,
    "refused": 4,
    "declined": 4,
    "interrupted": 130,
}
STDIN_LIMIT_BYTES = 10 * 1024 * 1024
# Piped input is read only if it starts arriving within this time: a harness that leaves stdin open and silent
# must not hang a run whose task was given with -p.
STDIN_FIRST_BYTE_S = 0.5
STDIN_IDLE_S = 5.0


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def read_piped_input(stream: IO[bytes], wait_for_first: float | None) -> str:
    """What was piped to sii, up to STDIN_LIMIT_BYTES. `wait_for_first`: how long to wait for the first byte
    (None: as long as it takes, for `-p -`); after that, reading stops at end of input or STDIN_IDLE_S of silence."""
    fd = stream.fileno()
    chunks: list[bytes] = []
    size = 0
    timeout = wait_for_first
    while size < STDIN_LIMIT_BYTES:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        chunk = os.read(fd, min(65536, STDIN_LIMIT_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        timeout = STDIN_IDLE_S
    return b"".join(chunks).decode("utf-8", errors="replace")


def prompt_with_stdin(prompt: str, stdin: IO[bytes] | None = None) -> str:
    """`-p -` takes the task from stdin; `cat log | sii -p "explain"` adds what was piped to the task."""
    # A stdin without a byte buffer was replaced in-process: it has no descriptor, and nothing is read from it.
    stream = stdin if stdin is not None else cast(IO[bytes], getattr(sys.stdin, "buffer", sys.stdin))
    try:
        terminal = stream.isatty()
        stream.fileno()
    except (OSError, ValueError, AttributeError):  # no real stdin (closed, or replaced in-process): nothing piped
        return "" if prompt == "-" else prompt
    if prompt == "-":
        return read_piped_input(stream, wait_for_first=None).strip()
    if terminal:
        return prompt
    piped = read_piped_input(stream, wait_for_first=STDIN_FIRST_BYTE_S)
    return f"{prompt}\n\n<stdin>\n{piped.rstrip()}\n</stdin>" if piped.strip() else prompt


class _Outcome:
    """What the result and the exit code must tell beyond the answer: calls the approval policy did not let run,
    and errors that ended the turn."""

    def __init__(self) -> None:
        self.denials: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, ErrorEvent):
            self.errors.append(event.message)
        elif isinstance(event, ToolResult) and (reason := event.observation.data.get("refused")):
            function = event.call["function"]
            self.denials.append({"tool_name": function["name"], "tool_call_id": event.call["id"], "reason": reason})


def _failure(output_format: OutputFormat, reason: str, message: str, started: float) -> int:
    """A run that never got to the model: one line on stderr, and the result object where JSON was asked for."""
    print(f"sii: error: {message}", file=sys.stderr)
    if output_format != "text":
        _print_json(
            {
                "type": "result",
                "is_error": True,
                "reason": reason,
                "error": message,
                "result": "",
                "duration_s": round(time.monotonic() - started, 3),
            }
        )
    return EXIT_CODES[reason]


def run_headless(
    settings: Settings,
    prompt: str,
    output_format: OutputFormat = "text",
    resume: Path | None = None,
    fork: bool = False,
) -> int:
    """Nobody can be asked here: calls that need approval run only in yolo mode (or auto-edit, for edits)."""
    started = time.monotonic()
    errors = Console(stderr=True, soft_wrap=True)  # logs and pipes: no hard wrapping
    task = prompt_with_stdin(prompt)
    if not task:
        return _failure(output_format, "could_not_start", "no task: -p - read nothing from stdin", started)
    try:
        resolve_endpoint(settings, errors.print)
        session = Session(settings, face="headless", ask=None, notify=errors.print, resume=resume, fork=fork)
    except ModelError as exc:
        return _failure(output_format, "error", str(exc), started)
    except (SessionError, EndpointError) as exc:
        return _failure(output_format, "could_not_start", str(exc), started)
    outcome = _Outcome()
    session.subscribe(outcome)
    if output_format == "stream-json":
        session.subscribe(
            lambda event: None if isinstance(event, ToolCallStreaming) else _print_json(event_to_dict(event))
        )
    else:
        session.subscribe(Renderer(errors, stream=False))
    try:
        end = session.run_turn(task)
    finally:
        session.close()
    answer = end.answer
    reason = "refused" if end.reason == "done" and outcome.denials else end.reason
    if reason == "refused":
        errors.print(
            f"sii: {len(outcome.denials)} action(s) were refused: approval is needed "
            "(run with --yolo, --mode auto-edit for edits, or allow the commands in the config)"
        )
    if output_format == "text":
        if answer:
            sys.stdout.write(answer.rstrip() + "\n")
    else:
        _print_json(
            {
                "type": "result",
                "is_error": reason not in ("done", "refused"),
                "result": answer,
                "reason": reason,
                "steps": end.steps,
                "permission_denials": outcome.denials,
                **({"error": outcome.errors[-1]} if reason == "error" and outcome.errors else {}),
                "session_id": session.id,
                "model": session.client.model,
                "usage": {
                    "prompt_tokens": session.agent.prompt_tokens,
                    "completion_tokens": session.agent.completion_tokens,
                },
                "duration_s": round(time.monotonic() - started, 3),
                "recording": str(session.recording_path),
            }
        )
    return EXIT_CODES[reason]
