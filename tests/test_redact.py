"""Redaction removes every corpus secret with the right kind and nothing around it, leaves near-misses alone,
walks whole records, and is idempotent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recordings.redact import KINDS, Finding, Redactor, summarize
from tests.secrets_corpus import NEAR_MISSES, SECRETS, Case, fake

REDACTOR = Redactor()
BY_NAME = {case.name: case for case in SECRETS}


def test_the_corpus_is_broad() -> None:
    assert len({case.name for case in SECRETS}) == len(SECRETS) >= 50
    assert len({case.kind for case in SECRETS}) >= 50
    assert len(set(NEAR_MISSES)) == len(NEAR_MISSES) >= 30
    assert {case.kind for case in SECRETS} <= set(KINDS)


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.name)
def test_each_secret_is_redacted_with_its_kind_and_its_context_kept(case: Case) -> None:
    redacted, findings = REDACTOR.redact_text(case.text)
    assert redacted == case.expected
    assert findings == [Finding(case.kind, "", case.template.index("§"))]
    assert REDACTOR.redact_text(redacted) == (redacted, [])  # idempotent


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    assert REDACTOR.redact_text(text) == (text, [])


def test_a_record_is_walked_keys_kept_and_named_secrets_caught_by_their_key() -> None:
    github, stripe, email = (
        BY_NAME[name] for name in ("github classic pat", "stripe live secret key", "email in json")
    )
    record = {
        "type": "message",
        "message": {
            "role": "assistant",
            "content": f"Using {github.secret} to push.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "bash",
                        "arguments": {"command": stripe.text, "env": {"DB_PASSWORD": "hunter2!", "DEBUG": "1"}},
                    },
                }
            ],
        },
        "results": [{"role": "tool", "tool_call_id": "call_1", "content": email.text}, 42, None, True],
    }
    redacted, findings = REDACTOR.redact(record)
    message = redacted["message"]
    assert message["content"] == "Using [REDACTED:github_token] to push."
    arguments = message["tool_calls"][0]["function"]["arguments"]
    assert arguments == {"command": stripe.expected, "env": {"DB_PASSWORD": "[REDACTED:password]", "DEBUG": "1"}}
    assert redacted["results"] == [{**record["results"][0], "content": email.expected}, 42, None, True]
    assert [(f.kind, f.path) for f in findings] == [
        ("github_token", "message.content"),
        ("stripe_key", "message.tool_calls.0.function.arguments.command"),
        ("password", "message.tool_calls.0.function.arguments.env.DB_PASSWORD"),
        ("email", "results.0.content"),
    ]
    assert summarize(findings + findings[:1]) == {"github_token": 2, "stripe_key": 1, "password": 1, "email": 1}
    assert REDACTOR.redact(redacted) == (redacted, [])
    assert all(secret not in repr(findings) for secret in (github.secret, stripe.secret, email.secret, "hunter2"))


def test_kinds_and_extra_patterns_come_from_config() -> None:
    text = f"mail ops@acme.io, key {BY_NAME['github classic pat'].secret}, ticket ACME-{fake(12)}"
    no_email = Redactor(kinds=set(KINDS) - {"email"}, extra_patterns={"ticket": r"ACME-(\w{12})"})
    redacted, findings = no_email.redact_text(text)
    assert redacted == "mail ops@acme.io, key [REDACTED:github_token], ticket ACME-[REDACTED:ticket]"
    assert summarize(findings) == {"github_token": 1, "ticket": 1}
    with pytest.raises(ValueError, match="unknown secret kinds: emails"):
        Redactor(kinds=["emails"])


def test_secrets_side_by_side_in_one_text() -> None:
    text = "\n".join(case.text for case in SECRETS)
    redacted, findings = REDACTOR.redact_text(text)
    assert redacted == "\n".join(case.expected for case in SECRETS)
    assert [f.kind for f in findings] == [case.kind for case in SECRETS]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_redacts_without_error_and_idempotently(text: str) -> None:
    redacted, _ = REDACTOR.redact_text(text)
    assert REDACTOR.redact_text(redacted)[0] == redacted


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SECRETS), st.text(max_size=40)), min_size=1, max_size=6))
def test_no_corpus_secret_survives_among_noise(parts: list[tuple[Case, str]]) -> None:
    text = "".join(f"{noise}\n{case.text}\n" for case, noise in parts)
    redacted, _ = REDACTOR.redact_text(text)
    assert not any(case.secret in redacted for case, _ in parts)
    assert REDACTOR.redact_text(redacted)[0] == redacted
