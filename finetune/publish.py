"""Serving a finished fine-tune with no restart of sii: its LoRA adapter is loaded into the running vLLM of
its base model (restarted with LoRA enabled if it was started without, or with too small a rank); with
--merge the server is restarted on the merged weights instead. Either way the next `sii --model <name>`
session uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from finetune.runs import read_manifest
from model_server.launcher import ServerInfo, ServerRegistry, stop_server


def publish(run: Path, servers: ServerRegistry, notify: Callable[[str], None], merged: bool = False) -> ServerInfo:
    """Serve `run` under its folder name (`<name>-v<N>`) on the base model's server, named like `sii serve`
    names it: the base folder's name (the bundled model's for the embedded server)."""
    manifest = read_manifest(run)
    base = Path(manifest["base_model"])
    if merged or manifest["method"] == "full":
        if not manifest.get("weights") or not (run / manifest["weights"]).is_dir():
            raise ValueError(
                f"{run.name} has no merged weights to serve: train it with --merge, or publish the adapter"
            )
        return _serve_weights(run / manifest["weights"], run.name, base.name, servers, notify)
    rank = manifest["hyperparameters"]["lora_rank"]
    info = servers.running(base.name)
    if info is not None and info.max_lora_rank < rank:
        why = "without LoRA" if not info.max_lora_rank else f"with LoRA rank ≤{info.max_lora_rank}"
        notify(f"Restarting the {base.name} server (it was started {why}) with LoRA rank ≤{rank} enabled")
        stop_server(info)
        servers.forget(base.name)
        info = None
    if info is None:
        notify(f"Starting the {base.name} server with LoRA enabled (a few minutes on CPU)")
        info, _ = servers.ensure(base, base.name, max_lora_rank=rank)
    servers.publish_adapter(info, run.name, run, rank)
    notify(f"Adapter {run.name} is served at {info.base_url}: `sii --model {run.name}`")
    return info


def _serve_weights(
    weights: Path, name: str, base_name: str, servers: ServerRegistry, notify: Callable[[str], None]
) -> ServerInfo:
    """Merged weights are a model of their own: served as `name`, in place of the base's server if it runs
    (one model at a time on a small machine)."""
    if (old := servers.running(base_name)) is not None:
        notify(f"Stopping the {base_name} server to serve the merged weights of {name}")
        stop_server(old)
        servers.forget(base_name)
    notify(f"Starting a server on the merged weights of {name}")
    info, _ = servers.ensure(weights, name)
    notify(f"{name} is served at {info.base_url}: `sii --base-url {info.base_url} --model {name}`")
    return info
