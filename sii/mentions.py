"""`@path` mentions: files named in a prompt are attached to the message, as Claude Code and Aider do."""

from __future__ import annotations

import codecs
import re

from tools.base import ToolContext, ToolError
from tools.text import clip

MENTION = re.compile(r"(?<![\w@])@([\w./\-]+)")
MAX_ATTACHED_CHARS = 50_000


def expand_mentions(text: str, context: ToolContext) -> tuple[str, list[str]]:
    """Append the contents of each mentioned workspace file. Returns the new text and the attached paths;
    mentions of missing, binary or outside files are left as they are."""
    attached: list[str] = []
    blocks: list[str] = []
    for name in dict.fromkeys(MENTION.findall(text)):
        name = name.rstrip(".,;:")
        content = _text_of(context, name)
        if content is None:
            continue
        if len(content) > MAX_ATTACHED_CHARS:
            content = clip(content, MAX_ATTACHED_CHARS) + f"\n[... truncated at {MAX_ATTACHED_CHARS} characters]"
        attached.append(name)
        blocks.append(f'<file path="{name}">\n{content}\n</file>')
    return (text + "\n\n" + "\n\n".join(blocks) if blocks else text), attached


ATTACHMENT = re.compile(r'\n*<file path="[^"\n]*">\n.*?\n</file>', re.DOTALL)


def strip_attachments(text: str) -> str:
    """The prompt as the user typed it: the attached file blocks `expand_mentions` added taken out again."""
    return ATTACHMENT.sub("", text).strip()


def missing_mentions(text: str, attached: list[str]) -> list[str]:
    """`@names` in `text` that were not attached (no such file, outside the workspace, binary): the user is told."""
    names = dict.fromkeys(name.rstrip(".,;:") for name in MENTION.findall(text))
    return [name for name in names if name and name not in attached]


def _text_of(context: ToolContext, name: str) -> str | None:
    """The file's UTF-8 text (a little over the cap at most), read through the workspace handle as the tools
    read; None for what is missing, outside, linked from elsewhere, not a regular file, binary or not UTF-8."""
    try:
        raw = context.read_bytes(name, 4 * MAX_ATTACHED_CHARS + 4)
    except ToolError:
        return None
    if b"\0" in raw[:8192]:
        return None
    try:  # an incremental decode, since the cap may cut a character in two
        return codecs.getincrementaldecoder("utf-8")().decode(raw)
    except UnicodeDecodeError:
        return None
