"""Processes that never outlive the one that started them, and a terminal's SIGTERM taken as Ctrl+C.

A run's child processes hold models and PHI in memory (650-700 MB each): when their parent is
killed (kill -9, a crash, a closed terminal) they must end too, not linger under PID 1.
"""

from __future__ import annotations

import os
import signal
import threading
import time

WATCH_S = 1.0


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the pid of the process that started it, passed down, since
    it may be dead before this runs) is no longer its parent: it died, also by kill -9. A watchdog,
    not PR_SET_PDEATHSIG: that signal fires when the starting *thread* ends, and the window starts
    children from worker threads."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def terminate_as_interrupt() -> None:
    """SIGTERM (a service manager, ``kill``) stops a run the way Ctrl+C does: at the next batch,
    checkpoint kept, worker processes shut down."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
