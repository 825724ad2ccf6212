"""Starting and watching model servers: vLLM on GPUs, vLLM's CPU build for the bundled small model."""
