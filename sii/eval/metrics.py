"""AgencyBench's metrics (as used in LIMI), over the N subtasks that finished, with R rounds allowed each.

For subtask i: s_i = weighted share of its requirements met in round 1 (Σ weights met / Σ weights; a
subtask judged without requirements counts 1 for a pass and 0 for a fail), and r_i = the round in which it
passed (None when it never did).

    FTFC   = (1/N) Σ_i s_i                                first-turn functional completeness
    SR@R   = (1/N) Σ_i [r_i ≤ R]                          success rate within R rounds
    RC@R   = (1/N) Σ_i (R − r_i) / (R − 1) if solved, else 0     remaining chances

RC@R: AgencyBench defines it as the average number of rounds left unused on success; we normalise by the
most one can leave unused (R − 1), so a first-round success counts 1 and a last-round success 0. Its published
RC@3 values sit close to SR@3, which fits this normalisation (dividing by R would cap a first-round success at
2/3). With R = 1 every success counts 1 (RC = SR).

Tool use, over every model reply of the finished attempts (a reply: one assistant message):

    tool-call validity = valid / calling          valid-call share = valid / replies

where `calling` replies make at least one tool call (native, recovered from text, or tool-call markup left in
the text that could not be read: `<tool_call>`, `<function=`), and `valid` ones among them make only calls
that name a tool the session offered, with arguments that parse to a JSON object, and leave no markup unread.
The first says whether the calls a model makes are well formed; the second how often it acts at all (a turn
that needs one call and then answers scores 1/2 at best). Both are 0 where there is nothing to count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from recordings.schema import Message

TOOL_CALL_MARKUP = ("<tool_call>", "<function=")


@dataclass(frozen=True)
class Outcome:
    first_score: float  # s_i
    solved_in: int | None  # r_i


def ftfc(outcomes: list[Outcome]) -> float:
    return sum(o.first_score for o in outcomes) / len(outcomes) if outcomes else 0.0


def success_rate(outcomes: list[Outcome]) -> float:
    return sum(o.solved_in is not None for o in outcomes) / len(outcomes) if outcomes else 0.0


def remaining_chances(outcomes: list[Outcome], rounds: int) -> float:
    if not outcomes:
        return 0.0
    unused = [(rounds - o.solved_in) / (rounds - 1) if rounds > 1 else 1.0 for o in outcomes if o.solved_in]
    return sum(unused) / len(outcomes)


def summarize(outcomes: list[Outcome], rounds: int) -> dict[str, float | int]:
    return {
        "subtasks": len(outcomes),
        "solved": sum(o.solved_in is not None for o in outcomes),
        "FTFC": ftfc(outcomes),
        f"SR@{rounds}": success_rate(outcomes),
        f"RC@{rounds}": remaining_chances(outcomes, rounds),
    }


@dataclass(frozen=True)
class ToolUse:
    replies: int = 0
    calling: int = 0
    valid: int = 0


def tool_use(messages: Iterable[Message], offered: Collection[str]) -> ToolUse:
    """Count the assistant replies among `messages`, those that call tools, and those whose calls are valid."""
    replies = calling = valid = 0
    for message in messages:
        if message.get("role") != "assistant":
            continue
        replies += 1
        calls = message.get("tool_calls") or []
        content = message.get("content") or ""
        unread = any(mark in content for mark in TOOL_CALL_MARKUP)
        if not calls and not unread:
            continue
        calling += 1
        valid += (
            bool(calls)
            and not unread
            and all(
                call["function"]["name"] in offered and isinstance(call["function"]["arguments"], dict)
                for call in calls
            )
        )
    return ToolUse(replies, calling, valid)


def tool_use_rates(total: ToolUse) -> dict[str, float]:
    return {
        "tool_call_validity": total.valid / total.calling if total.calling else 0.0,
        "valid_call_share": total.valid / total.replies if total.replies else 0.0,
    }
