"""`sii -p "task"`: one turn, tool activity on stderr, the final answer on stdout."""

from __future__ import annotations

import sys

from rich.console import Console

from sii.agent import approve_all
from sii.config import Settings
from sii.render import Renderer
from sii.session import Session
from tools.base import Tool

EXIT_CODES = {"done": 0, "error": 1, "step_limit": 1, "interrupted": 130}


def run_headless(settings: Settings, prompt: str, yolo: bool) -> int:
    errors = Console(stderr=True)

    def refuse_mutations(tool: Tool, call: object) -> bool:
        errors.print(f"[yellow]{tool.name} needs approval; headless runs allow it only with --yolo[/]")
        return False

    session = Session(settings, face="headless", approve=approve_all if yolo else refuse_mutations, notify=errors.print)
    session.agent.subscribe(Renderer(errors, stream=False))
    try:
        end = session.agent.run_turn(prompt)
    finally:
        session.close()
    final = session.agent.messages[-1]
    if final["role"] == "assistant" and final.get("content"):
        sys.stdout.write(final["content"].rstrip() + "\n")
    return EXIT_CODES[end.reason]
