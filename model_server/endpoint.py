"""Which model server a session talks to: the one the settings name, else the embedded server (started, and the
bundled model converted, on first use). The faces resolve it before they open a session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from model_server.bundled import BUNDLED_MODEL_NAME, BundledModelError, ensure_bundled_model
from model_server.launcher import ServerError, ServerRegistry

# SmolLM2-135M on two CPU cores makes ~17 tokens/s and tends to ramble: cap its replies.
EMBEDDED_MAX_TOKENS = 512
WAIT_REPORT_EVERY_S = 10


class EndpointError(RuntimeError):
    """No model server could be had (the embedded one did not start); str() says why and what to do."""


class EndpointSettings(Protocol):
    """What resolving needs of the settings (sii's Settings has it): where sii keeps its servers and models, the
    server named by the user, and the sampling settings to cap for the embedded model."""

    home: Path
    cache: Path
    base_url: str | None
    sampling: dict[str, Any]


def resolve_endpoint(settings: EndpointSettings, notify: Callable[[str], None]) -> str:
    """The base URL to use, written into `settings.base_url`. Without one, the embedded server's, whose replies are
    capped at EMBEDDED_MAX_TOKENS in `settings.sampling`."""
    if not settings.base_url:
        settings.base_url = embedded_base_url(settings.home, settings.cache, notify)
        tokens = settings.sampling.get("max_tokens", EMBEDDED_MAX_TOKENS)
        settings.sampling["max_tokens"] = min(tokens, EMBEDDED_MAX_TOKENS)
    return settings.base_url


def embedded_base_url(home: Path, cache: Path, notify: Callable[[str], None]) -> str:
    """The embedded server's URL, started (and the bundled model converted) on first use. A start takes a minute
    on two cores: each phase is told as it begins, the log's path first, so a slow start never looks hung."""
    servers = ServerRegistry(home / "server")
    info = servers.running(BUNDLED_MODEL_NAME)
    if info is None:
        notify(
            "Starting the embedded model server (SmolLM2-135M-Instruct on vLLM, CPU). "
            "It stays up for later sessions; `sii serve --stop` stops it."
        )
        reported = [0.0]

        def waiting(elapsed: float) -> None:
            if elapsed - reported[0] >= WAIT_REPORT_EVERY_S:
                reported[0] = elapsed
                notify(f"  3/3 vLLM is loading the model… {elapsed:.0f} s")

        try:
            notify("  1/3 preparing the bundled model (converted once, then cached)")
            model_dir = ensure_bundled_model(cache)
            notify(f"  2/3 starting vLLM; its log: {servers.log_path(BUNDLED_MODEL_NAME)}")
            info, _ = servers.ensure(model_dir, BUNDLED_MODEL_NAME, on_wait=waiting)
        except (BundledModelError, ServerError) as exc:
            raise EndpointError(str(exc)) from exc
    notify(f"Using the embedded model server at {info.base_url}")
    return info.base_url
