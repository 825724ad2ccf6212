"""Fine-tuning the served model on recorded successes (see the finetune issue)."""
