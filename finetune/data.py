"""Recorded samples -> token ids and labels, rendered with the target model's own chat template.

Only the model's own tokens are trained: what it generated (content, reasoning, tool calls, its end-of-turn
token). System, user and tool-result tokens, and the generation header the server adds, are masked (-100).

How the split is found, for any template: the conversation is rendered prefix by prefix. For the assistant
message i, `render(messages[:i], add_generation_prompt=True)` is the prompt the model was sent and
`render(messages[:i+1])` the prompt plus its reply, so the reply is the text between the two. Each piece is
tokenized on its own and the pieces concatenated, which is how the model met them at inference (the prompt
tokenized by the server, the reply generated token by token). At build time every piece is checked: the
pieces must add up to the full render, and each must decode back to its text.

Templates that rewrite history (Qwen3, GLM-4.5 drop the reasoning of assistant turns before the last user
message) make a prefix render differ from the full one. Training must match what the model saw, so the
sample is then split, in this order, until every piece is consistent:
1. the whole sample, every assistant message trained (templates that never rewrite history);
2. one example per user turn: the conversation up to the end of that turn, training only that turn's
   assistant messages; earlier turns are context, rendered as the template renders them then (without
   their reasoning), exactly what the model was shown while working on that turn;
3. one example per model call (prompt as sent, reply as generated): a template that rewrites even within a
   turn (Qwen3 adds an empty think block only to the last message) still trains on exactly what happened.
A template whose reply is not a continuation of its own generation prompt cannot be split; that is an error.

Known limit: templates with no end-of-turn token inside the assistant message (GLM-4.5 stops on the next
message's `<|observation|>`/`<|user|>`) do not train that stop token.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_server.bundled import BUNDLED_MODEL_NAME, TOOL_TEMPLATE
from recordings.formats import canonical_json
from recordings.select import SessionFilter
from recordings.store import list_sessions, read_trajectory

IGNORE = -100  # the label PyTorch's cross entropy skips
PROBE_TOOL = "sii_probe_tool"


class DataError(ValueError):
    """The data cannot be built; the message says what to change."""


class TemplateError(DataError):
    """The chat template cannot render these samples for training."""


@dataclass
class Source:
    """One recorded sample (a context window of a session) and where it came from."""

    session_id: str
    context: int
    data: dict[str, Any]
    sha256: str


@dataclass
class Example:
    """A training example as alternating segments: token ids, and whether each segment is trained."""

    segments: list[tuple[list[int], bool]] = field(default_factory=list)
    source: str = ""  # "<session>/<context>", for errors and the manifest

    @property
    def input_ids(self) -> list[int]:
        return [token for ids, _ in self.segments for token in ids]

    @property
    def labels(self) -> list[int]:
        return [token if trained else IGNORE for ids, trained in self.segments for token in ids]

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.segments)

    def trained_tokens(self) -> int:
        return sum(len(ids) for ids, trained in self.segments if trained)


def select_sources(recordings: Path, session_filter: SessionFilter) -> list[Source]:
    """The samples of every session the filter keeps, oldest session first."""
    summaries = [s for s in list_sessions(recordings) if session_filter.matches(s)]
    sources = []
    for summary in reversed(summaries):
        for context, data in enumerate(read_trajectory(summary.path).samples()):
            digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()
            sources.append(Source(summary.session_id, context, data, digest))
    if not sources:
        wanted = f"label {session_filter.label}" if session_filter.label else "these filters"
        raise DataError(
            f"no recorded sessions with {wanted} in {recordings} (label some with `/label success` in a session)"
        )
    return sources


def load_tokenizer(model_dir: Path, chat_template: Path | None = None) -> Any:
    """The model's tokenizer with the template its server renders with: the bundled model's converted folder
    carries SmolLM2's template without tools, so ours is used, as the launcher does."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load the tokenizer of {model_dir}: {exc}") from exc
    if chat_template is None and model_dir.name == BUNDLED_MODEL_NAME:
        chat_template = TOOL_TEMPLATE
    if chat_template is not None:
        tokenizer.chat_template = chat_template.read_text()
    if not tokenizer.chat_template:
        raise TemplateError(f"{model_dir} has no chat template; pass one with --chat-template")
    return tokenizer


def check_tool_support(tokenizer: Any) -> None:
    """Fail early, with a clear message, on a template that ignores tools (it would train on calls the model
    never saw defined)."""
    tool = {"type": "function", "function": {"name": PROBE_TOOL, "description": "probe", "parameters": {}}}
    call = {"id": "c1", "type": "function", "function": {"name": PROBE_TOOL, "arguments": {}}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    try:
        text = tokenizer.apply_chat_template(messages, tools=[tool], tokenize=False)
    except Exception as exc:  # templates raise whatever they like
        raise TemplateError(f"the chat template cannot render tool calls: {exc}") from exc
    if text.count(PROBE_TOOL) < 2:
        raise TemplateError(
            "the chat template does not render tools or tool calls; pass a tool-aware one with --chat-template"
        )


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as templates expect them: text content, reasoning also as `reasoning_content` (Qwen3, GLM)."""
    out = []
    for message in messages:
        message = {**message, "content": message.get("content") or ""}
        if message.get("reasoning"):
            message["reasoning_content"] = message["reasoning"]
        out.append(message)
    return out


class Renderer:
    """Turns samples into examples with one tokenizer; see the module docstring for the policy."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def render(self, messages: list[dict[str, Any]], tools: list[dict] | None, prompt: bool = False) -> str:
        try:
            return self.tokenizer.apply_chat_template(
                messages, tools=tools, tokenize=False, add_generation_prompt=prompt
            )
        except Exception as exc:  # templates raise whatever they like for a shape they reject
            raise TemplateError(f"the chat template rejected a sample: {exc}") from exc

    def examples(self, source: Source) -> list[Example]:
        """One example, or one per user turn, or one per model call: the first that renders consistently."""
        messages = template_messages(source.data["messages"])
        tools = source.data.get("tools") or None
        replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        name = f"{source.session_id}/{source.context}"
        for split in (_whole, _per_user_turn, _per_call):
            try:
                return [self.example(messages[:end], tools, trained, name) for end, trained in split(messages, replies)]
            except _Rewritten:
                continue
        raise TemplateError(f"{name}: the template's reply is not a continuation of its generation prompt")

    def example(self, messages: list[dict], tools: list[dict] | None, trained: list[int], name: str) -> Example:
        """Segments of `messages` with the replies at `trained` unmasked; _Rewritten if a prefix render is
        not a prefix of the full render."""
        full = self.render(messages, tools)
        cuts: list[tuple[int, bool]] = []  # (end offset, is the segment that ends there trained)
        for index in trained:
            start = len(self._prefix_of(full, self.render(messages[:index], tools, prompt=True)))
            reply = self._prefix_of(full, self.render(messages[: index + 1], tools))
            end = len(reply.rstrip())  # the newline a template adds after the end-of-turn token is not generated
            if cuts and start < cuts[-1][0]:
                raise _Rewritten
            cuts += [(start, False), (end, True)]
        cuts.append((len(full), False))
        example, offset = Example(source=name), 0
        for end, is_trained in cuts:
            if end > offset:
                example.segments.append((self._tokens(full[offset:end], name), is_trained))
            offset = max(offset, end)
        return example

    @staticmethod
    def _prefix_of(full: str, part: str) -> str:
        if not full.startswith(part):
            raise _Rewritten
        return part

    def _tokens(self, text: str, name: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) != text:
            raise TemplateError(f"{name}: the tokenizer does not round-trip a piece of the render: {text[:80]!r}")
        return ids


class _Rewritten(Exception):
    """A prefix render is not a prefix of the full render: the template rewrote history."""


def _whole(messages: list[dict], replies: list[int]) -> Iterator[tuple[int, list[int]]]:
    yield len(messages), replies


def _per_user_turn(messages: list[dict], replies: list[int]) -> Iterator[tuple[int, list[int]]]:
    users = [i for i, m in enumerate(messages) if m["role"] == "user"] + [len(messages)]
    for start, end in itertools.pairwise(users):
        if trained := [i for i in replies if start < i < end]:
            yield end, trained
    if before := [i for i in replies if i < users[0]]:  # replies before any user message (rare)
        yield users[0], before


def _per_call(messages: list[dict], replies: list[int]) -> Iterator[tuple[int, list[int]]]:
    for index in replies:
        yield index + 1, [index]
