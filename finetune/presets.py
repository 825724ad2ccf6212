"""Named hyperparameter sets. `limi` is the LIMI paper's recipe (a full fine-tune of GLM-4.5 on 78 long
trajectories); `quick` is a LoRA setting that moves a small model in minutes. Any flag overrides a preset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hyperparameters:
    lr: float
    min_lr: float  # cosine decay ends here
    weight_decay: float
    betas: tuple[float, float]
    epochs: float
    max_length: int  # tokens per packed row
    warmup: float = 0.0  # steps, or a fraction of them when < 1
    grad_accum: int = 1
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    max_steps: int = -1  # -1: run the epochs
    save_steps: int = 50


PRESETS: dict[str, Hyperparameters] = {
    # LIMI: lr 1e-5 cosine to 1e-6, weight decay 0.1, Adam betas 0.9/0.98, 4 epochs, long context. With LoRA
    # (sii's default) a learning rate about ten times higher is usual: pass --lr 1e-4, or --full.
    "limi": Hyperparameters(lr=1e-5, min_lr=1e-6, weight_decay=0.1, betas=(0.9, 0.98), epochs=4, max_length=65536),
    "quick": Hyperparameters(lr=2e-4, min_lr=2e-5, weight_decay=0.0, betas=(0.9, 0.999), epochs=2, max_length=4096),
}
DEFAULT_PRESET = "quick"
