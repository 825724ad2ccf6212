"""Output files that cannot fill the disk: the first `head` bytes are kept, and past them only about the last
`tail` bytes; the middle is punched out (a sparse hole), so offsets stay true and the file keeps its length.
Readers take bounded windows and skip the holes. Standard library only: the watchdog imports this."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from dataclasses import dataclass

_BLOCK = 1 << 16  # punch whole blocks only, so the hole really frees disk
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]


@dataclass(frozen=True)
class Cap:
    """What a capped file keeps; it never holds more than `disk_bytes` (plus what one poll lets a writer add,
    where something else writes and we only trim)."""

    head: int
    tail: int

    @property
    def disk_bytes(self) -> int:
        return self.head + 2 * self.tail + 2 * _BLOCK


def trim(fd: int, cap: Cap, size: int | None = None) -> None:
    """Punch out everything between the head and the last `tail` bytes once there is `tail` more to drop.
    Where the file system cannot punch holes, drop the file back to its head (later writes leave a hole)."""
    size = os.fstat(fd).st_size if size is None else size
    start = -(-cap.head // _BLOCK) * _BLOCK
    end = (size - cap.tail) // _BLOCK * _BLOCK
    if end - start < cap.tail:
        return
    if _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, start, end - start) != 0:
        if ctypes.get_errno() not in (errno.EOPNOTSUPP, errno.ENOSYS):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        os.ftruncate(fd, cap.head)


def create(path: str, flags: int = os.O_WRONLY) -> int:
    """Create `path` afresh and open it: whatever the (sandboxed) shell left at that name goes first, and the
    open neither follows a link nor reuses a file, so no host file is truncated or written through it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def open_regular(path: str) -> int | None:
    """Open a file the shell may have replaced, for reading: never through a link, never blocking on a FIFO;
    None unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_small(path: str, limit: int = 64) -> str:
    """The first `limit` bytes of a small file the shell writes (a pid, an exit code), or ''."""
    fd = open_regular(path)
    if fd is None:
        return ""
    try:
        return os.read(fd, limit).decode("ascii", "replace")
    finally:
        os.close(fd)


class CappedWriter:
    """Writes a stream into a capped file, trimming as it goes: a hard bound, since the writer waits for it."""

    def __init__(self, path: str, cap: Cap) -> None:
        self.fd = create(path)
        self.cap = cap
        self.size = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, self.size)
            self.size += written
            view = view[written:]
        if self.size > self.cap.head + 2 * self.cap.tail:
            trim(self.fd, self.cap, self.size)

    def close(self) -> None:
        os.close(self.fd)


@dataclass(frozen=True)
class Window:
    """A bounded read of a span of a capped file: its start, its end (the whole rest is read when it fits) and
    how many bytes of the span were not shown (punched out on disk, or past the window's limit)."""

    head: bytes
    tail: bytes
    cut: int
    end: int


def _data(fd: int, start: int, end: int) -> list[tuple[int, int]]:
    """The stretches of [start, end) that hold data, holes skipped."""
    spans, offset = [], start
    while offset < end:
        try:
            offset = os.lseek(fd, offset, os.SEEK_DATA)
            hole = min(os.lseek(fd, offset, os.SEEK_HOLE), end)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data past offset
                break
            return [(offset, end)]  # the file system cannot say: all of it counts as data
        if offset >= end:
            break
        spans.append((offset, hole))
        offset = hole
    return spans


def _take(fd: int, spans: list[tuple[int, int]], limit: int, from_end: bool) -> bytes:
    chunks, left = [], limit
    for start, end in reversed(spans) if from_end else spans:
        if left <= 0:
            break
        length = min(left, end - start)
        chunks.append(os.pread(fd, length, end - length if from_end else start))
        left -= length
    return b"".join(reversed(chunks) if from_end else chunks)


def read_window(path: str, start: int, limit: int) -> Window:
    """Read [start, end of file) in at most `limit` bytes: all of it if it fits, else its first and last
    limit/2 bytes of data. Memory stays bounded by `limit` however large the file is."""
    fd = open_regular(path)
    if fd is None:
        return Window(b"", b"", 0, start)
    try:
        end = os.fstat(fd).st_size
        start = min(start, end)
        spans = _data(fd, start, end)
        stored = sum(stop - begin for begin, stop in spans)
        if stored <= limit:  # all of it: the part before the first hole, then the rest
            head = _take(fd, spans[:1], limit, from_end=False)
            tail = _take(fd, spans[1:], limit, from_end=False)
        else:
            head = _take(fd, spans, limit // 2, from_end=False)
            tail = _take(fd, spans, limit // 2, from_end=True)
        return Window(head, tail, end - start - len(head) - len(tail), end)
    finally:
        os.close(fd)
