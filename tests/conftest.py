"""Shared fixtures: an isolated SII_HOME, real git workspaces, the scripted server, and the real vLLM server."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_server.bundled import BUNDLED_MODEL_NAME, ensure_bundled_model
from model_server.endpoint import embedded_base_url
from model_server.launcher import ServerInfo, ServerRegistry, stop_server
from sii.config import sii_cache
from tests.scripted_server import ScriptedServer
from tools import ToolContext

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "sii tests",
    "GIT_AUTHOR_EMAIL": "tests@sii.invalid",
    "GIT_COMMITTER_NAME": "sii tests",
    "GIT_COMMITTER_EMAIL": "tests@sii.invalid",
}


@pytest.fixture(autouse=True)
def sii_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own SII_HOME so recordings and history never leak between tests."""
    home = tmp_path / "sii-home"
    monkeypatch.setenv("SII_HOME", str(home))
    for variable in ("SII_BASE_URL", "SII_MODEL", "SII_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A real git repository with one committed Python file."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=root, check=True)
    return root


@pytest.fixture
def ctx(workspace: Path, sii_home: Path) -> Iterator[ToolContext]:
    """The tools' context on the `workspace` repository, closed (shell and jobs stopped) after the test."""
    context = ToolContext(workspace=workspace, session_id="sess-42", scratch=sii_home / "tmp")
    yield context
    context.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


MODEL_FIXTURES = {"bundled_model_dir", "vllm_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite on two workers (pytest-xdist, `--dist loadgroup`); the tests on the real model
    share one of them, so the vLLM server is started once and the model converted once, never in a race."""
    for item in items:
        if item.get_closest_marker("vllm") or MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("model"))


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """The bundled model converted to a HF folder (cached in the user cache dir across runs)."""
    return ensure_bundled_model(sii_cache())


@pytest.fixture(scope="session")
def vllm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SII_HOME whose server registry holds the real vLLM server started for this test session."""
    return tmp_path_factory.mktemp("vllm-home")


@pytest.fixture(scope="session")
def vllm_start_notes() -> list[str]:
    """What sii told the user while it started the real server (its phases, the log's path)."""
    return []


@pytest.fixture(scope="session")
def vllm_server(bundled_model_dir: Path, vllm_home: Path, vllm_start_notes: list[str]) -> Iterator[ServerInfo]:
    """The real vLLM CPU server with the bundled model, started once the way sii starts its embedded server."""
    servers = ServerRegistry(vllm_home / "server")
    embedded_base_url(vllm_home, sii_cache(), vllm_start_notes.append)
    info = servers.running(BUNDLED_MODEL_NAME)
    assert info is not None
    try:
        yield info
    finally:
        stop_server(info)
        servers.forget(info.model)
