"""The scripted OpenAI-compatible server lives in the package (sii/testing.py) so bench/ can use it too."""

from sii.testing import MODEL, Reply, ScriptedServer, _chunks, call

__all__ = ["MODEL", "Reply", "ScriptedServer", "_chunks", "call"]
