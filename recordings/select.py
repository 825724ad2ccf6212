"""Choosing sessions by label, model, date, repository, length, tool or tag: one filter, and one parent parser
of its flags, for `recordings list`, `stats`, `export` and `finetune`. A new filter is a field here and a line in
`session_filters`."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from recordings.store import SessionSummary


def _date(text: str) -> float:
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-25, not {text!r}") from exc


@dataclass
class SessionFilter:
    label: str | None = None  # success, fail, unknown, or "none" for unlabelled sessions
    model: list[str] | None = None  # any of these served model names
    since: float | None = None
    until: float | None = None
    repo: str | None = None  # a substring of the workspace path or the git remote
    min_tokens: int | None = None
    max_tokens: int | None = None
    tool: str | None = None
    tag: str | None = None

    def matches(self, s: SessionSummary) -> bool:
        checks = [
            self.label is None or (s.outcome or "none") == self.label,
            self.model is None or s.model in self.model,
            self.since is None or s.started_at >= self.since,
            self.until is None or s.started_at < self.until + 86_400,  # the whole `until` day
            self.repo is None or self.repo in s.workspace or self.repo in (s.git_remote or ""),
            self.min_tokens is None or s.tokens >= self.min_tokens,
            self.max_tokens is None or s.tokens <= self.max_tokens,
            self.tool is None or self.tool in s.tools_used,
            self.tag is None or self.tag in s.tags,
        ]
        return all(checks)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SessionFilter:
        return cls(**{name: getattr(args, name) for name in cls.__dataclass_fields__})


LABELS = ("success", "fail", "unknown", "none")


def session_filters(label: str | None = None) -> argparse.ArgumentParser:
    """The filter flags as a parent parser (`parents=[session_filters()]`), a fresh one each time so that one
    command's defaults (`label`: finetune's success) stay its own."""
    parser = argparse.ArgumentParser(add_help=False)
    filters = parser.add_argument_group("session filters")
    default = f"; default {label}" if label else ""
    filters.add_argument("--label", choices=LABELS, default=label, help=f"outcome label (none: unlabelled{default})")
    filters.add_argument("--model", action="append", help="served model name (repeatable: any of them)")
    filters.add_argument("--since", type=_date, help="started on or after this day (YYYY-MM-DD)")
    filters.add_argument("--until", type=_date, help="started on or before this day (YYYY-MM-DD)")
    filters.add_argument("--repo", help="part of the workspace path or git remote")
    filters.add_argument("--min-tokens", type=int, help="sessions of at least this many tokens")
    filters.add_argument("--max-tokens", type=int, help="sessions of at most this many tokens")
    filters.add_argument("--tool", help="sessions that used this tool")
    filters.add_argument("--tag", help="sessions with this tag")
    return parser
