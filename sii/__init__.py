"""sii: an open agent runtime and terminal coding assistant that records every session as training data."""

__version__ = "0.1.0"  # the single source: pyproject.toml reads it (importlib.metadata costs 40 ms at start)
