"""Secret redaction for recordings: sessions become training data that is shared, so keys, passwords and
emails a user pasted or a tool printed must not reach it. A secret is replaced by `[REDACTED:<kind>]`, the same
for every occurrence, so the sample still reads as the model saw it; the text around the secret is kept."""

from __future__ import annotations

import bisect
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import regex

from recordings.secret_patterns import (
    KINDS,
    PASSWORD_KEY_NAME,
    PATTERNS,
    SECRET_KEY_NAME,
    WORD_CHARS,
    SecretPattern,
    accept_password,
    accept_secret,
    looks_fake,
)

__all__ = ["KINDS", "Finding", "Redactor", "summarize"]

_PLACEHOLDER = re.compile(r"\[REDACTED:[A-Za-z0-9_.-]+\]")
# How long one user pattern may run on one text: `(a+)+$` and friends take forever on the wrong input.
USER_PATTERN_TIMEOUT_S = 0.5


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


@dataclass(frozen=True, slots=True)
class Finding:
    """Where a secret was and what kind it was; never the secret, so findings can be logged and reported."""

    kind: str
    path: str  # where in a structure passed to `redact` ("messages.3.content"); "" for `redact_text`
    start: int  # offset of the secret in the original string


class _Spans:
    """Claimed, non-overlapping spans of one text, so a later (less specific) pattern cannot reclaim them."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def free(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self.starts, end)  # spans starting before `end` may overlap
        return index == 0 or self.ends[index - 1] <= start

    def add(self, start: int, end: int) -> None:
        index = bisect.bisect_left(self.starts, start)
        self.starts.insert(index, start)
        self.ends.insert(index, end)


class Redactor:
    """Replaces secrets of the chosen kinds (all built-in ones by default) and of extra patterns from config.

    An extra pattern's secret is its group named `s`, else its first group, else the whole match; extra
    patterns take priority over the built-in ones. They run with a time bound: one that takes longer than
    USER_PATTERN_TIMEOUT_S on a text is disabled for good and `report`ed once (a warning by default), so a
    catastrophic regex costs half a second, never a hang. Emails are on by default: drop "email" from `kinds` to
    keep them."""

    def __init__(
        self,
        kinds: Iterable[str] | None = None,
        extra_patterns: Mapping[str, str] | None = None,
        report: Callable[[str], None] = _warn,
    ) -> None:
        extra_patterns = dict(extra_patterns or {})
        chosen = set(KINDS if kinds is None else kinds) | set(extra_patterns)
        unknown = chosen - set(KINDS) - set(extra_patterns)
        if unknown:
            raise ValueError(f"unknown secret kinds: {', '.join(sorted(unknown))}")
        extras = [SecretPattern(name, _compile_user_pattern(source)) for name, source in extra_patterns.items()]
        self._user = {id(pattern) for pattern in extras}
        self._patterns = extras + [pattern for pattern in PATTERNS if pattern.kind in chosen]
        self._kinds = chosen
        self._report = report

    def redact_text(self, text: str, path: str = "") -> tuple[str, list[Finding]]:
        hits = self._hits(text)
        if not hits:
            return text, []
        parts, last = [], 0
        for start, end, kind, _ in hits:
            parts += [text[last:start], f"[REDACTED:{kind}]"]
            last = end
        parts.append(text[last:])
        return "".join(parts), [Finding(kind, path, start) for start, _, kind, _ in hits]

    def secret_spans(self, text: str) -> list[tuple[int, int]]:
        """Where each secret is, widened to the text its pattern needed to tell it is one (`postgres://u:` and
        the `@` around a password): a cut inside such a span would leave a part that is no longer recognized."""
        return [context for *_, context in self._hits(text)]

    def _hits(self, text: str) -> list[tuple[int, int, str, tuple[int, int]]]:
        """The secrets of `text` in order: start, end, kind, and the span of the whole match."""
        claimed = _Spans(match.span() for match in _PLACEHOLDER.finditer(text))  # already redacted: idempotent
        hits: list[tuple[int, int, str, tuple[int, int]]] = []
        lowered = text.lower() if "\u0130" not in text else text.replace("\u0130", "I").lower()  # same offsets
        for pattern in list(self._patterns):
            if pattern.hints and not any(hint in lowered for hint in pattern.hints):
                continue
            try:
                self._match(pattern, text, lowered, claimed, hits)
            except TimeoutError:
                self._patterns.remove(pattern)
                self._report(
                    f"the [redaction.patterns] regex {pattern.kind!r} took over {USER_PATTERN_TIMEOUT_S:g}s on one "
                    "text and is now off; write it without nested repetition such as (a+)+"
                )
        return sorted(hits)

    def _match(
        self,
        pattern: SecretPattern,
        text: str,
        lowered: str,
        claimed: _Spans,
        hits: list[tuple[int, int, str, tuple[int, int]]],
    ) -> None:
        if id(pattern) in self._user:
            user_regex: Any = pattern.regex  # compiled by the `regex` module, whose finditer takes a timeout
            matches: Iterable[re.Match[str] | None] = user_regex.finditer(text, timeout=USER_PATTERN_TIMEOUT_S)
        elif pattern.anchor is None:
            matches = pattern.regex.finditer(text)
        else:
            matches = (pattern.regex.match(text, hit.start()) for hit in pattern.anchor.finditer(lowered))
        group = "s" if "s" in pattern.regex.groupindex else min(pattern.regex.groups, 1)
        for match in matches:
            if match is None:
                continue
            start, end = match.span(group)
            if start >= end or not claimed.free(start, end):
                continue
            if pattern.bounded and match.start() and text[match.start() - 1] in WORD_CHARS:
                continue
            secret = text[start:end]
            if looks_fake(secret) or (pattern.accept is not None and not pattern.accept(secret)):
                continue
            claimed.add(start, end)
            hits.append((start, end, pattern.kind, (min(start, match.start()), max(end, match.end()))))

    def redact(self, value: Any) -> tuple[Any, list[Finding]]:
        """Redact every string in a JSON-like value (a record, a message, tool-call arguments); keys are kept,
        but a key named like a secret (`password`, `api_key`, `token`...) makes its whole string value one."""
        findings: list[Finding] = []
        return self._walk(value, "", None, findings), findings

    def _walk(self, value: Any, path: str, key: object, findings: list[Finding]) -> Any:
        if isinstance(value, str):
            text, found = self.redact_text(value, path)
            if not found and isinstance(key, str):
                kind = self._kind_by_key(key, value)
                if kind is not None:
                    text, found = f"[REDACTED:{kind}]", [Finding(kind, path, 0)]
            findings += found
            return text
        if isinstance(value, Mapping):
            return {k: self._walk(v, f"{path}.{k}" if path else str(k), k, findings) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v, f"{path}.{i}" if path else str(i), None, findings) for i, v in enumerate(value)]
        return value

    def _kind_by_key(self, key: str, value: str) -> str | None:
        if not SECRET_KEY_NAME.fullmatch(key):
            return None
        if PASSWORD_KEY_NAME.fullmatch(key):
            return "password" if "password" in self._kinds and accept_password(value) else None
        return "secret" if "secret" in self._kinds and accept_secret(value) else None


def _compile_user_pattern(source: str) -> Any:
    """A user's regex, compiled by the `regex` module (which can bound a match's time); a bad one is the same
    `re.error` as before, so callers report it the same way."""
    try:
        return regex.compile(source, regex.VERSION0)
    except regex.error as exc:
        raise re.error(str(exc)) from exc


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts per kind, most frequent first: what a report or a session's metadata should say."""
    return dict(Counter(finding.kind for finding in findings).most_common())
