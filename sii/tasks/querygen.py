"""The natural-language request behind a mined change, written by the served model from the prompt in
`prompts/query_from_commit.md` (its `$message`, `$files` and `$diff` are filled in). A reply that copies
lines of the patch is refused: the patch is the reference answer, and the query must not give it away."""

from __future__ import annotations

import re
from importlib.resources import files
from string import Template

from sii.client import ModelClient
from sii.tasks.from_git import Change

PROMPT_FILE = "query_from_commit.md"
SAMPLING = {"temperature": 0.3, "max_tokens": 400}
LEAK_LINE_CHARS = 25  # a patch line this long found in a query is copied code, not a coincidence
THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)
PREFACE = re.compile(r"^\s*(request|query|task)\s*:\s*", re.IGNORECASE)


def prompt_template() -> Template:
    return Template((files("sii.tasks") / "prompts" / PROMPT_FILE).read_text(encoding="utf-8"))


def query_prompt(change: Change) -> str:
    return prompt_template().safe_substitute(message=change.message, files=", ".join(change.files), diff=change.patch)


def clean(reply: str) -> str:
    """The request alone: no reasoning block, no 'Request:' preface, no wrapping quotes."""
    text = PREFACE.sub("", THINKING.sub("", reply)).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def leaks(query: str, patch: str) -> bool:
    """Whether the query shows the patch: diff syntax, or a long changed line copied verbatim."""
    if "diff --git" in query or re.search(r"^@@ ", query, re.MULTILINE):
        return True
    squeezed = " ".join(query.split())
    for line in patch.splitlines():
        if line[:1] in "+-" and line[:3] not in ("+++", "---"):
            code = " ".join(line[1:].split())
            if len(code) >= LEAK_LINE_CHARS and code in squeezed:
                return True
    return False


class QueryWriter:
    """Asks the served model for each change's request."""

    def __init__(self, client: ModelClient) -> None:
        self.client = client

    def write(self, change: Change) -> str:
        completion = self.client.chat([{"role": "user", "content": query_prompt(change)}], [], SAMPLING)
        return clean(completion.message["content"] or "")
