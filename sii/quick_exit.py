"""A process that is ending need not collect its garbage: the faces call `skip_collection_at_exit` once.

At exit CPython tears down every module and runs the cycle collector over everything they held: with sii's
few hundred modules loaded that takes 0.1-0.3 s (more on a loaded machine) after the work is done. Freezing
the heap from an atexit hook moves every live object out of the collector's reach, so exit takes milliseconds.
What must be written is closed explicitly before (recordings are fsynced at each turn end and on close);
objects freed by reference counting during teardown are still finalized."""

from __future__ import annotations

import atexit
import gc


def skip_collection_at_exit() -> None:
    """Idempotent: both faces may be imported in one process."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)  # atexit hooks run before the modules are torn down
