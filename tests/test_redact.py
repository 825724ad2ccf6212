"""Redaction removes every corpus secret with the right kind and nothing around it, leaves near-misses alone,
walks whole records, and is idempotent."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recordings.redact import KINDS, Finding, Redactor, summarize
from sii.config import Settings, user_config_file
from sii.mentions import MAX_ATTACHED_CHARS, expand_mentions
from sii.prompts import MAX_MEMORY_CHARS, project_memory
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer, call
from tests.secrets_corpus import NEAR_MISSES, SECRETS, Case, fake
from tests.tooling import run
from tools import ToolContext
from tools.default import default_registry
from tools.text import cap_output, clip

REDACTOR = Redactor()
BY_NAME = {case.name: case for case in SECRETS}


def test_the_corpus_is_broad() -> None:
    assert len({case.name for case in SECRETS}) == len(SECRETS) >= 60
    assert len({case.kind for case in SECRETS}) >= 50
    assert len(set(NEAR_MISSES)) == len(NEAR_MISSES) >= 40
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


def test_the_corpus_measures_both_directions() -> None:
    """Recall over the secrets and false positives over the near-misses, the numbers a change must not worsen."""
    caught = sum(REDACTOR.redact_text(case.text)[0] == case.expected for case in SECRETS)
    flagged = sum(bool(REDACTOR.redact_text(text)[1]) for text in NEAR_MISSES)
    assert (len(SECRETS), len(NEAR_MISSES)) >= (60, 40)
    assert (caught / len(SECRETS), flagged / len(NEAR_MISSES)) == (1.0, 0.0)


# --- user patterns run with a time bound ------------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("catastrophic", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$"])
def test_a_catastrophic_user_pattern_never_hangs_and_is_reported_once(catastrophic: str) -> None:
    reports: list[str] = []
    redactor = Redactor(extra_patterns={"evil": catastrophic, "ticket": r"ACME-(\w{12})"}, report=reports.append)
    hostile = "a" * 40 + "! " + "word " * 40 + "!"
    ticket = fake(12)
    started = time.monotonic()
    for _ in range(3):
        redacted, _ = redactor.redact_text(f"ACME-{ticket} {hostile}")
    assert time.monotonic() - started < 5
    assert redacted.startswith("ACME-[REDACTED:ticket]")  # the other patterns keep working
    assert len(reports) <= 1 and all("'evil'" in report and "now off" in report for report in reports)


def test_a_timed_out_pattern_warns_by_default() -> None:
    redactor = Redactor(extra_patterns={"evil": r"(a|aa)+$"})
    with pytest.warns(RuntimeWarning, match="'evil'.*now off"):
        redactor.redact_text("a" * 40 + "!")


def test_an_invalid_user_pattern_is_still_an_re_error() -> None:
    with pytest.raises(re.error):
        Redactor(extra_patterns={"bad": "(unclosed"})


# --- cuts never leave part of a secret ---------------------------------------------------------------------------


def leaked(secret: str, text: str) -> bool:
    """Any 8 characters of `secret` in `text`."""
    return any(secret[i : i + 8] in text for i in range(max(1, len(secret) - 7)))


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.name)
def test_a_cut_inside_a_secret_moves_before_it(case: Case) -> None:
    start = case.template.index("§")
    end = start + len(case.secret)
    for cut in sorted({start + 1, (start + end) // 2, end - 1}):
        kept = clip(case.text, cut)
        assert len(kept) <= start
        assert not leaked(case.secret, REDACTOR.redact_text(kept)[0])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SECRETS), st.text(max_size=60), st.text(max_size=60), st.integers(0, 400))
def test_no_cut_anywhere_leaves_part_of_a_secret(case: Case, before: str, after: str, cut: int) -> None:
    text = f"{before}\n{case.text}\n{after}"
    if not REDACTOR.redact_text(text)[0].count(f"[REDACTED:{case.kind}]"):
        return  # the noise made it no secret (`x` glued to a token): nothing to keep whole
    assert not leaked(case.secret, REDACTOR.redact_text(clip(text, cut))[0])


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.name)
def test_capped_output_splits_no_secret_at_either_cut(case: Case) -> None:
    start = case.template.index("§")
    middle = start + len(case.secret) // 2
    for head in (True, False):  # the secret across the head's end, then across the tail's start
        filler = "~\n" * 3000
        text = filler[: 1000 - middle] + case.text + filler if head else filler + case.text + filler[:1000]
        shown = cap_output(text, max_chars=2000)
        assert not leaked(case.secret, REDACTOR.redact_text(shown)[0])


def test_a_long_line_in_read_file_is_cut_around_its_secret(ctx: ToolContext) -> None:
    secret = BY_NAME["github classic pat"].secret
    line = "var a=1;" * 247 + f'token="{secret}";' + "var b=2;" * 20  # minified: the 2,000th character is in it
    (ctx.workspace / "min.js").write_text(f"{line}\nnext line\n")
    shown = run(ctx, "read_file", path="min.js").text
    assert not leaked(secret, REDACTOR.redact_text(shown)[0])
    assert "next line" in shown


TRUNCATED_KEY = BY_NAME["rsa private key"].secret.split("-----END")[0]  # as `head` shows it


@pytest.mark.parametrize(
    "prompt, label",
    [
        (f"please push this branch with the token {BY_NAME['github classic pat'].secret} and open a PR", 39),
        (f"fix the login, this key fails:\n{TRUNCATED_KEY}", 30),  # its lines joined by spaces in the label
    ],
    ids=["token", "private key cut short"],
)
def test_the_checkpoint_label_in_the_recording_holds_no_part_of_a_secret(
    workspace: Path, prompt: str, label: int
) -> None:
    secret = next(case.secret for case in SECRETS if case.secret[:40] in prompt)
    assert prompt.index(secret[:40]) < 72 < prompt.index(secret[:40]) + len(secret)  # the old cut fell inside it
    script = [Reply("", [call("run_shell", {"command": "echo hi > note.txt"})]), Reply("done")]
    with ScriptedServer(script) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        session.agent.run_turn(prompt)
        session.close()
    records = [json.loads(line) for line in session.recording_path.read_text().splitlines()]
    labels = [record["label"] for record in records if record.get("type") == "checkpoint"]
    assert labels == [" ".join(prompt.split())[:label].strip()]
    body = secret.removeprefix("-----BEGIN RSA PRIVATE KEY-----")
    assert not leaked(body, session.recording_path.read_text())
    assert session.checkpoints is not None and not leaked(body, session.checkpoints.list()[0].label)


@pytest.mark.parametrize("enabled", [True, False])
def test_checkpoints_copy_the_workspace_unless_turned_off(workspace: Path, sii_home: Path, enabled: bool) -> None:
    """A checkpoint is a full copy of the workspace, secrets in its files included (the README says so); the
    user's `[checkpoints] enabled = false` keeps none."""
    secret = BY_NAME["env password"].secret
    (workspace / ".env").write_text(f"DB_PASSWORD={secret}\n")
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text(f"[checkpoints]\nenabled = {str(enabled).lower()}\n")
    script = [Reply("", [call("run_shell", {"command": "echo hi > note.txt"})]), Reply("done")]
    with ScriptedServer(script) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        session.agent.run_turn("write a note")
        session.close()
    assert len(session.turn_checkpoints) == int(enabled)
    if enabled:  # git keeps blobs compressed: ask the shadow repository itself
        assert session.checkpoints is not None
        store = str(session.checkpoints.store_dir)
        kept = subprocess.run(["git", "--git-dir", store, "grep", "-F", secret, "checkpoints"], capture_output=True)
        assert kept.returncode == 0
    else:
        assert session.checkpoints is None and not (sii_home / "checkpoints").exists()
        assert not subprocess.run(["grep", "-rF", "--", secret, str(sii_home)], capture_output=True).stdout


def straddling(secret: str, limit: int) -> str:
    """Text whose `limit`-th character is in the middle of `secret` (after a word break, so it is one)."""
    before = limit - len(secret) // 2
    return "word " * (before // 5) + " " * (before % 5) + f"KEY={secret} and more text after it\n"


@pytest.mark.parametrize("where", ["invalid tool arguments", "attached @file", "AGENTS.md"])
def test_other_cuts_split_no_secret(ctx: ToolContext, where: str) -> None:
    secret = BY_NAME["github classic pat"].secret
    if where == "invalid tool arguments":
        shown = default_registry().dispatch("read_file", straddling(secret, 200), ctx).text
    elif where == "attached @file":
        (ctx.workspace / "notes.txt").write_text(straddling(secret, MAX_ATTACHED_CHARS))
        shown, _ = expand_mentions("see @notes.txt", ctx)
    else:
        (ctx.workspace / "AGENTS.md").write_text(straddling(secret, MAX_MEMORY_CHARS))
        shown = project_memory(ctx.workspace)
    assert "truncated" in shown or "not valid JSON" in shown
    assert not leaked(secret, REDACTOR.redact_text(shown)[0])
