"""Process-wide settings that make analysis faster; the command line and the app apply them at start-up.

The feature analyses work a block of frames at a time, and each block makes
temporaries of a few to 30 MB. glibc's ``malloc`` serves allocations that
large with a fresh ``mmap`` and returns them to the system on ``free``, so
every block pays for zero-filling its pages again: on a 5-minute recording
that is about half of the pitch tracker's time (0.63 s against 0.33 s).
Raising the thresholds keeps freed blocks in the heap for the next one
(below 256 MB kept, a 15-minute recording re-faulted its pages on every
analysis and cost 1.2× per minute what a 5-minute one did; with it, 1.06×).
Peak memory is unchanged (the same blocks are live at once); the process
keeps up to 256 MB per malloc arena instead of returning it between
analyses, and two arenas at most bound that in a server with many threads.

This changes the whole process, so the library does not do it on import:
the ``deceptio`` command, ``app.py`` and the benchmarks call
:func:`tune_allocator` once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 256 * 2**20  # freed memory above this at the top of the heap goes back to the system
_ARENA_MAX = 2  # malloc arenas: bounds what the heaps keep to _ARENA_MAX * _TRIM_THRESHOLD in a many-threaded server

_applied: bool | None = None


def tune_allocator() -> bool:
    """Keep large freed blocks in the heap (glibc only); True if the settings took effect.

    Safe to call more than once and a no-op (False) on other C libraries and
    systems.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # musl and others have no mallopt
            return False
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        _applied = all(
            mallopt(option, value)
            for option, value in ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_ARENA_MAX, _ARENA_MAX))
        )
    return _applied
