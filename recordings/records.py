"""The recording format in one place: every kind of record a recording may hold, with its fields (one TypedDict
per kind), what it means to readers (the `KINDS` table), and the format's version. The writer refuses a kind or
a field declared nowhere here, and validate, the reader, the viewer and the transcript dispatch on this table.
recordings/FORMAT.md describes the same for people who read recordings with their own tools.

No `from __future__ import annotations` here: the TypedDicts' NotRequired keys are read at run time."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict, get_args

from recordings.schema import Message, SessionMeta

FORMAT_NAME = "sii-trajectory"
FORMAT_VERSION = 2
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"  # the header's `format`; a file without one is version 1
_FORMAT_PATTERN = re.compile(rf"{FORMAT_NAME}/([1-9][0-9]{{0,8}})")

RecordKind = Literal[
    "session",
    "message",
    "turn_end",
    "error",
    "compaction",
    "system_prompt",
    "rewind",
    "retune",
    "checkpoint",
    "model",
    "resume",
    "label",
    "tags",
    "exclude",
    "task",
    "comparison",
    "eval",
    "gap",
    "end",
]
Outcome = Literal["success", "fail", "unknown"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


def checked_outcome(outcome: str | None) -> Outcome | None:
    """`outcome` as a label's outcome; a ValueError names the ones there are."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    return outcome  # type: ignore[return-value]  # checked just above


class Envelope(TypedDict):
    """What every record has beside its own fields; the writer adds these, callers never pass them."""

    type: str
    time: NotRequired[float]  # seconds since the epoch, when the record was written
    redacted: NotRequired[dict[str, int]]  # secrets redacted from this record, by kind
    unredacted: NotRequired[bool]  # written without redaction: an export must still redact it


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int


class EndMeta(TypedDict, total=False):
    """The session facts known only at its end, merged into the header's meta on reading."""

    ended_at: float | None
    git_head_end: str | None


# The header's meta: a dict with SessionMeta's fields (recordings.schema); validated against the dataclass.
MetaDict = Annotated[dict[str, Any], SessionMeta]
Messages = list[Message]


class SessionRecord(TypedDict):
    meta: MetaDict
    tools: list[dict[str, Any]]  # the OpenAI tool schemas the model was offered
    format: NotRequired[str]  # written by the writer: FORMAT; absent in version 1


class MessageRecord(TypedDict):
    message: Message
    finish_reason: NotRequired[str | None]  # assistant messages: the server's finish reason
    usage: NotRequired[Usage | None]  # assistant messages: the server's token counts for the request
    is_error: NotRequired[bool]  # tool results: the tool failed
    data: NotRequired[dict[str, Any]]  # tool results: what the tool reported beside its text (a diff, an exit code)


class TurnEndRecord(TypedDict):
    reason: str  # done, interrupted, step_limit, error, declined
    steps: int


class ErrorRecord(TypedDict):
    message: str


class CompactionRecord(TypedDict):
    summary: str | None
    messages: Messages
    tokens_before: int | None


class SystemPromptRecord(TypedDict):
    messages: Messages


class RewindRecord(TypedDict):
    checkpoint: str | None
    files: list[str]
    messages: Messages
    undo: NotRequired[bool]


class RetuneRecord(TypedDict):
    changed: list[str]  # workspace, tools, system_prompt
    workspace: str
    tools: list[dict[str, Any]]
    messages: Messages


class CheckpointRecord(TypedDict):
    id: str
    label: str
    message_index: int


class ModelRecord(TypedDict):
    model: str


class ResumeRecord(TypedDict):
    face: str
    model: str
    base_url: str


class LabelRecord(TypedDict):
    outcome: Outcome | None
    note: str | None


class TagsRecord(TypedDict):
    tags: list[str]


class ExcludeRecord(TypedDict):
    message_index: int
    excluded: bool


class TaskRecord(TypedDict):
    task_id: str
    pool: str
    pool_path: str
    source: str
    repo: str | None
    commit: str | None
    parent: str | None
    category: str | None


class ComparisonRecord(TypedDict):
    task_id: str
    reference_files: list[str]
    touched_files: list[str]
    overlap: list[str]
    recall: float | None
    precision: float | None
    test_command: str | None
    test_exit: int | None
    test_output: str


class EvalRecord(TypedDict):
    task: str
    subtask: int
    round: int
    judge: str
    passed: bool
    score: float
    met: list[str]
    feedback: str
    status: str
    reason: str | None
    details: dict[str, Any]


class GapRecord(TypedDict):
    records_lost: int


class EndRecord(TypedDict):
    meta: EndMeta


def _hidden(_record: dict[str, Any]) -> str | None:
    return None


def _count(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


@dataclass(frozen=True)
class Kind:
    """How readers treat one kind of record."""

    fields: Any  # the TypedDict of the record's own fields (its __required_keys__ and __optional_keys__)
    restarts_view: bool = False  # its `messages` are the model's whole view from here on (a new training sample)
    names_model: bool = False  # its `model` answers from here on
    shown: Callable[[dict[str, Any]], str | None] = _hidden  # the separator a transcript shows; None: not shown
    alarm: bool = False  # shown as something that went wrong


_TURN_ENDS = {"interrupted": "interrupted", "step_limit": "stopped after {steps} steps"}

KINDS: dict[RecordKind, Kind] = {
    "session": Kind(SessionRecord),
    "message": Kind(MessageRecord),
    "turn_end": Kind(
        TurnEndRecord,
        shown=lambda r: _TURN_ENDS.get(str(r.get("reason")), "").format(steps=r.get("steps")) or None,
    ),
    "error": Kind(ErrorRecord, shown=lambda r: f"error: {r.get('message')}", alarm=True),
    "compaction": Kind(
        CompactionRecord,
        restarts_view=True,
        shown=lambda r: f"compacted {_number(r.get('tokens_before') or 0)} tokens into a summary",
    ),
    "system_prompt": Kind(SystemPromptRecord, restarts_view=True, shown=lambda _r: "system prompt reloaded"),
    "rewind": Kind(
        RewindRecord,
        restarts_view=True,
        shown=lambda r: (
            f"{'undid the rewind' if r.get('undo') else 'rewound'} to checkpoint {r.get('checkpoint')} "
            f"({_count(r.get('files'))} files restored)"
        ),
    ),
    "retune": Kind(
        RetuneRecord,
        restarts_view=True,
        shown=lambda r: "changed: " + ", ".join(map(str, r.get("changed") or [])),
    ),
    "checkpoint": Kind(CheckpointRecord),
    "model": Kind(ModelRecord, names_model=True, shown=lambda r: f"switched to model {r.get('model')}"),
    "resume": Kind(ResumeRecord, names_model=True, shown=lambda r: f"resumed by {r.get('face')} with {r.get('model')}"),
    "label": Kind(LabelRecord),
    "tags": Kind(TagsRecord),
    "exclude": Kind(ExcludeRecord),
    "task": Kind(TaskRecord, shown=lambda r: f"task {r.get('task_id')} from pool {r.get('pool')}"),
    "comparison": Kind(ComparisonRecord),
    "eval": Kind(
        EvalRecord,
        shown=lambda r: (
            f"eval: {r.get('task')} subtask {r.get('subtask')} round {r.get('round')} "
            f"{'passed' if r.get('passed') is True else 'failed'}"
        ),
    ),
    "gap": Kind(GapRecord, shown=lambda r: f"{r.get('records_lost')} records lost (the disk refused them)", alarm=True),
    "end": Kind(EndRecord),
}
assert set(KINDS) == set(get_args(RecordKind)), "every declared kind needs its entry in KINDS"


def declared_kind(record: dict[str, Any]) -> RecordKind | None:
    """`record`'s kind when this version declares it; None for another kind (a newer format's) or none."""
    kind = record.get("type")
    return kind if isinstance(kind, str) and kind in KINDS else None  # type: ignore[return-value]  # checked


def kind_of(record: dict[str, Any]) -> Kind | None:
    """The declaration of `record`'s kind; None for a kind this version does not declare (or no kind at all)."""
    kind = declared_kind(record)
    return KINDS[kind] if kind else None


def shown(record: dict[str, Any]) -> str | None:
    """The one line a transcript shows for an event record (None: a record readers do not show)."""
    declared = kind_of(record)
    return declared.shown(record) if declared else None


def check_fields(kind: str, fields: dict[str, Any]) -> None:
    """Refuse (ValueError) a record the format does not declare: an unknown kind, a field its kind does not
    have, or one of its required fields missing. Values are not checked here (validate does that)."""
    declared = kind_of({"type": kind})
    if declared is None:
        known = ", ".join(KINDS)
        raise ValueError(f"unknown record kind {kind!r}: declare it in recordings/records.py (kinds: {known})")
    spec = declared.fields
    allowed = spec.__required_keys__ | spec.__optional_keys__
    if extra := sorted(set(fields) - allowed):
        own = ", ".join(sorted(allowed))
        raise ValueError(f"a {kind!r} record has no field(s) {', '.join(extra)} (its fields: {own})")
    if missing := sorted(spec.__required_keys__ - set(fields)):
        raise ValueError(f"a {kind!r} record needs field(s) {', '.join(missing)}")


def format_version(header: dict[str, Any]) -> int | None:
    """The format version a header says its file is in: 1 when it says none (files before versions were
    written); None when its `format` is not one this sii can read the version of."""
    declared = header.get("format")
    if declared is None:
        return 1
    match = _FORMAT_PATTERN.fullmatch(declared) if isinstance(declared, str) else None
    return int(match.group(1)) if match else None
