"""Trajectories: the schema of a recorded session, the crash-safe store, and export to training samples."""

from recordings.schema import Message, SessionMeta, ToolCall, Trajectory
from recordings.store import RecordingWriter, list_sessions, read_trajectory, recordings_dir

__all__ = [
    "Message",
    "RecordingWriter",
    "SessionMeta",
    "ToolCall",
    "Trajectory",
    "list_sessions",
    "read_trajectory",
    "recordings_dir",
]
