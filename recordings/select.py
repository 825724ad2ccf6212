"""Choosing sessions by label, model, date, repository, length, tool or tag: one filter for list, stats and
export."""

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
    model: str | None = None
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
            self.model is None or s.model == self.model,
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


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", choices=["success", "fail", "unknown", "none"], help="outcome label")
    parser.add_argument("--model", help="served model name")
    parser.add_argument("--since", type=_date, help="started on or after this day (YYYY-MM-DD)")
    parser.add_argument("--until", type=_date, help="started on or before this day (YYYY-MM-DD)")
    parser.add_argument("--repo", help="part of the workspace path or git remote")
    parser.add_argument("--min-tokens", type=int, help="at least this many tokens")
    parser.add_argument("--max-tokens", type=int, help="at most this many tokens")
    parser.add_argument("--tool", help="sessions that used this tool")
    parser.add_argument("--tag", help="sessions with this tag")
