"""`sii -p "task"`: one turn without a terminal UI. Output formats: `text` (the final answer on stdout,
tool activity on stderr), `json` (one result object), `stream-json` (every event as a JSON line, then the
result object), for scripts and SDK clients."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from rich.console import Console

from sii.config import Settings
from sii.events import event_to_dict
from sii.render import Renderer
from sii.session import Session

OutputFormat = Literal["text", "json", "stream-json"]
# 0 done, 1 the model server failed, 3 the step limit was reached, 130 interrupted (2: sii could not start).
EXIT_CODES = {"done": 0, "error": 1, "step_limit": 3, "interrupted": 130}


def _print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def run_headless(
    settings: Settings,
    prompt: str,
    output_format: OutputFormat = "text",
    resume: Path | None = None,
    fork: bool = False,
) -> int:
    """Nobody can be asked here: calls that need approval run only in yolo mode (or auto-edit, for edits)."""
    errors = Console(stderr=True, soft_wrap=True)  # logs and pipes: no hard wrapping
    session = Session(settings, face="headless", ask=None, notify=errors.print, resume=resume, fork=fork)
    if output_format == "stream-json":
        session.agent.subscribe(lambda event: _print_json(event_to_dict(event)))
    else:
        session.agent.subscribe(Renderer(errors, stream=False))
    try:
        end = session.agent.run_turn(prompt)
    finally:
        session.close()
    final = session.agent.messages[-1]
    answer = (final.get("content") or "") if final["role"] == "assistant" else ""
    if output_format == "text":
        if answer:
            sys.stdout.write(answer.rstrip() + "\n")
    else:
        _print_json(
            {
                "type": "result",
                "result": answer,
                "reason": end.reason,
                "steps": end.steps,
                "session_id": session.id,
                "model": session.client.model,
                "usage": {
                    "prompt_tokens": session.agent.prompt_tokens,
                    "completion_tokens": session.agent.completion_tokens,
                },
                "recording": str(session.recording_path),
            }
        )
    return EXIT_CODES[end.reason]
