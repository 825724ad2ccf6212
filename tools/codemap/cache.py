"""The tags of source files, cached on disk so an unchanged workspace is neither read nor parsed again.

The cache is one SQLite file shared by every workspace: `tags` maps a content key (language + sha1 of the
bytes) to the file's tags, so identical content is parsed once; `files` remembers each path's mtime, size and
content key, so an unchanged file is neither read nor hashed. A file written less than a second before it was
recorded is stored as unverified and hashed again next time: its mtime alone cannot tell a later same-size
edit within the timestamp granularity apart (git's "racily clean" problem). `maps` keeps the last rendered
maps. Everything is dropped when a query or a code map module changes.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sqlite3
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tools.base import ToolContext, ToolError
from tools.codemap.extract import QUERIES, Definition, FileTags, extract_tags, language_for

MAX_FILE_BYTES = 1_000_000  # larger sources are generated or minified; their tags would only add noise
RACY_SECONDS = 1.0
MAX_MAPS = 32


@dataclass
class Snapshot:
    """The content key of each workspace-relative path, and how much work taking it took (the tests count
    parses)."""

    keys: dict[str, str]
    hashed: int = 0
    parsed: int = 0


def _encode(tags: FileTags) -> bytes:
    return marshal.dumps(([tuple(d) for d in tags.definitions], tags.references))


def _decode(blob: bytes) -> FileTags:
    definitions, references = marshal.loads(blob)
    return FileTags(list(map(Definition._make, definitions)), references)


@cache
def _fingerprint() -> str:
    """Changes with any query or any module of this package, which invalidates every cached tag and map."""
    digest = hashlib.sha1()
    for source in sorted([*QUERIES.glob("*.scm"), *Path(__file__).parent.glob("*.py")]):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


class TagCache:
    """The SQLite file under `directory` (in memory when that cannot be written). Besides tags it keeps the
    last rendered maps, keyed by everything they depend on, so an unchanged workspace costs a stat per file."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(directory / "tags.sqlite3", timeout=30)
            self._setup()
        except (OSError, sqlite3.Error):
            self._db = sqlite3.connect(":memory:")
            self._setup()

    def _setup(self) -> None:
        # A cache may lose its last writes on power loss but must not corrupt or wait on fsync.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, key TEXT)"
                " WITHOUT ROWID"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS tags (key TEXT PRIMARY KEY, blob BLOB) WITHOUT ROWID")
            self._db.execute("CREATE TABLE IF NOT EXISTS maps (key TEXT PRIMARY KEY, text TEXT, created INTEGER)")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
            if row is None or row[0] != _fingerprint():
                for table in ("files", "tags", "maps"):
                    self._db.execute(f"DELETE FROM {table}")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (_fingerprint(),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TagCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _range(root: Path) -> tuple[str, str]:
        """Bounds of the absolute paths under `root`, for an index range scan."""
        prefix = str(root.resolve()) + os.sep
        return prefix, prefix[:-1] + chr(ord(os.sep) + 1)

    def snapshot(self, context: ToolContext, paths: list[str]) -> Snapshot:
        """The content key of each of `paths` (relative to the workspace; unsupported or oversized files are left
        out, and so is what the context will not read: symlinks out, hard links, other mounts), hashing only
        files whose mtime or size changed and parsing only content never seen before."""
        bounds = self._range(context.workspace)
        known = {
            path: (mtime_ns, size, key)
            for path, mtime_ns, size, key in self._db.execute(
                "SELECT path, mtime_ns, size, key FROM files WHERE path >= ? AND path < ?", bounds
            )
        }
        result = Snapshot({})
        changed: list[tuple[str, int, int, str]] = []
        now_ns = time.time_ns()
        for relative in paths:
            language = language_for(relative)
            if language is None:
                continue
            absolute = bounds[0] + relative  # the row's key only: files are opened through the context
            try:
                stat = context.stat(relative)
            except ToolError:
                continue
            if stat is None or stat.st_size > MAX_FILE_BYTES:
                continue
            cached = known.get(absolute)
            if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
                result.keys[relative] = cached[2]
                continue
            key = self._store(language, context, relative, result)
            if key is None:
                continue
            result.keys[relative] = key
            racy = now_ns - stat.st_mtime_ns < RACY_SECONDS * 1e9
            changed.append((absolute, -1 if racy else stat.st_mtime_ns, stat.st_size, key))
        gone = [(path,) for path in known.keys() - {bounds[0] + relative for relative in result.keys}]
        if changed or gone:
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", changed)
            self._db.executemany("DELETE FROM files WHERE path = ?", gone)
            self._db.execute("DELETE FROM tags WHERE key NOT IN (SELECT key FROM files)")
        self._db.commit()
        return result

    def _store(self, language: str, context: ToolContext, relative: str, result: Snapshot) -> str | None:
        """Hash the file; parse it unless its content is already cached. Returns its key."""
        try:
            source = context.read_bytes(relative, MAX_FILE_BYTES + 1)
        except ToolError:
            return None
        if len(source) > MAX_FILE_BYTES:  # grew since its stat
            return None
        result.hashed += 1
        key = f"{language}:{hashlib.sha1(source).hexdigest()}"
        if self._db.execute("SELECT 1 FROM tags WHERE key = ?", (key,)).fetchone() is None:
            result.parsed += 1
            self._db.execute("INSERT INTO tags VALUES (?, ?)", (key, _encode(extract_tags(language, source))))
        return key

    def load(self, root: Path, snapshot: Snapshot) -> dict[str, FileTags]:
        """The tags of every file in `snapshot` (taken of `root` just before)."""
        blobs = dict(
            self._db.execute(
                "SELECT key, blob FROM tags WHERE key IN (SELECT key FROM files WHERE path >= ? AND path < ?)",
                self._range(root),
            )
        )
        decoded = {key: _decode(blobs[key]) for key in set(snapshot.keys.values()) if key in blobs}
        # A key can vanish only if another process changed the file in between: it then maps as empty.
        return {relative: decoded.get(key, FileTags([], {})) for relative, key in snapshot.keys.items()}

    def get_map(self, key: str) -> str | None:
        row = self._db.execute("SELECT text FROM maps WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_map(self, key: str, text: str) -> None:
        """Remember a rendered map, keeping only the most recent few."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO maps VALUES (?, ?, ?)", (key, text, time.time_ns()))
            self._db.execute(
                "DELETE FROM maps WHERE key NOT IN (SELECT key FROM maps ORDER BY created DESC LIMIT ?)", (MAX_MAPS,)
            )
