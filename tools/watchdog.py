"""The session's watchdog: a small process beside sii that outlives it by a moment. It copies background jobs'
output from their FIFOs into capped logs (the job waits for it, so the cap is a hard bound), and when sii goes
(its end of our stdin closes, even on kill -9, or its pid disappears) it kills every process carrying the
session's marker and removes the session's private folder. Standard library only, started with `python -I -S`."""

from __future__ import annotations

import os
import select
import shutil
import stat
import sys
import threading

from tools.caplog import Cap, CappedWriter, create
from tools.processes import SESSION_MARK, identity_alive, terminate

_POLL_S = 0.5


def pump(fifo: str, log: str, cap: Cap) -> None:
    """Copy one job's output into its capped log, then leave `<log>.done` so readers know it is complete."""
    writer = CappedWriter(log, cap)
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # blocks until the job opens its end
        try:
            while stat.S_ISFIFO(os.fstat(fd).st_mode) and (chunk := os.read(fd, 1 << 20)):
                writer.write(chunk)
        finally:
            os.close(fd)
    finally:
        writer.close()
        os.close(create(f"{log}.done"))


def serve(folder: str, mark: str, owner: str) -> None:
    """Read `cap FIFO LOG HEAD TAIL` lines until sii's end of the pipe closes or sii is gone; then clean up."""
    buffered = b""
    try:
        while True:
            ready, _, _ = select.select([0], [], [], _POLL_S)
            if not ready:
                if not identity_alive(owner):
                    return
                continue
            data = os.read(0, 4096)
            if not data:
                return
            *lines, buffered = (buffered + data).split(b"\n")
            for line in lines:
                verb, *fields = line.decode(errors="replace").split("\t")
                if verb == "cap" and len(fields) == 4 and fields[2].isdigit() and fields[3].isdigit():
                    fifo, log, head, tail = fields
                    cap = Cap(int(head), int(tail))
                    threading.Thread(target=pump, args=(fifo, log, cap), daemon=True).start()
    finally:
        terminate([(SESSION_MARK, mark)], grace_s=0.1)  # no hurry here: sii is gone
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> None:
    folder, mark, owner = argv
    try:
        serve(folder, mark, owner)
    finally:
        os._exit(0)  # pump threads may still block in open(): do not wait for them


if __name__ == "__main__":
    main(sys.argv[1:])
