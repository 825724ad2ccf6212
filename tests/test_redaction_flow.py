"""Secrets never reach the disk or an export by default, while the model still works with what it was sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from recordings.store import RecordingWriter, read_trajectory
from sii.config import Settings, project_config_file, user_config_file
from sii.session import Session
from tests.scripted_server import Reply, ScriptedServer
from tests.test_curation import record

TOKEN = "ghp_" + "Zq8rT2vX9mK4pL7wN3bY6cF1hJ5dS0gA2eR8"  # fake, built to look like a GitHub token


def run_session(workspace: Path) -> tuple[Session, ScriptedServer]:
    with ScriptedServer([Reply(f"Stored {TOKEN} in the .env file.")]) as server:
        settings = Settings.resolve(base_url=server.base_url, workspace=workspace, mode="yolo")
        session = Session(settings, face="test", ask=None, notify=lambda text: None)
        session.agent.run_turn(f"use my token {TOKEN} and mail ops@acme-corp.io about ACME-123456")
        session.close()
    return session, server


def test_recordings_are_redacted_on_disk(workspace: Path) -> None:
    session, server = run_session(workspace)
    assert TOKEN in server.requests[0]["messages"][-1]["content"]  # the model saw it
    text = session.recording_path.read_text()
    assert TOKEN not in text and "ops@acme-corp.io" not in text
    trajectory = read_trajectory(session.recording_path)
    assert trajectory.messages[1]["content"] == (
        "use my token [REDACTED:github_token] and mail [REDACTED:email] about ACME-123456"
    )
    assert trajectory.redactions == {"github_token": 2, "email": 1}
    assert not trajectory.needs_redaction  # so an export does not scan it again
    shown = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "show", session.id],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "redacted: github_token ×2, email ×1" in shown.stdout


def test_the_user_may_turn_redaction_off_but_a_project_may_not(workspace: Path) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text("[redaction]\nemails = false\n[redaction.patterns]\nticket = 'ACME-(\\d{6})'\n")
    session, _ = run_session(workspace)
    text = session.recording_path.read_text()
    assert TOKEN not in text and "ops@acme-corp.io" in text
    assert "ACME-123456" not in text and "ACME-[REDACTED:ticket]" in text
    project_config_file(workspace).parent.mkdir(parents=True, exist_ok=True)
    project_config_file(workspace).write_text("[redaction]\nenabled = false\n")
    settings = Settings.resolve(workspace=workspace)  # ignored with a warning (tests/test_project_config.py)
    assert settings.redaction and [refusal.key for refusal in settings.refused] == ["redaction.enabled"]


def test_exports_redact_recordings_written_without_redaction(sii_home: Path) -> None:
    directory = sii_home / "recordings"
    path = record(directory, "raw")
    writer = RecordingWriter(path, redactor=None)
    writer.write("message", message={"role": "user", "content": f"token {TOKEN}"})
    writer.write("message", message={"role": "assistant", "content": "noted"})
    writer.close()
    assert TOKEN in path.read_text()
    assert read_trajectory(path).needs_redaction
    exported = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "export"], capture_output=True, text=True, check=True
    )
    assert TOKEN not in exported.stdout and "[REDACTED:github_token]" in exported.stdout
    assert "1 secrets redacted" in exported.stderr
    raw = subprocess.run(
        [sys.executable, "-m", "sii", "recordings", "export", "--no-redact"], capture_output=True, text=True
    )
    assert TOKEN in json.loads(raw.stdout.splitlines()[0])["messages"][-2]["content"]
