"""sii: an open agent runtime and terminal coding assistant that records every session as training data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sii")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
