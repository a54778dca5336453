"""Stat every file of one folder in one go: type, size, mtime, ctime and inode, for the change check.

A re-scan stats every image file: the header cache is keyed by size, mtime, ctime and inode (a file
replaced by another of the same size with its mtime set back still has a new ctime, and usually a new
inode), and a file edited in place does not change its folder. ``os.stat`` builds a ``stat_result``
of some twenty Python objects per call, which costs more than the system call itself. On Linux,
``statx(2)`` called through ctypes writes each file's record into one numpy array instead, and the
fields wanted are then read for
the whole folder at once: about a quarter less time per file (``benchmarks/bench_scan.py``).

``struct statx`` has one layout on every architecture (``linux/stat.h``), unlike ``struct stat``, so
the offsets below hold wherever the C library has the function (glibc has since 2.28). Where it has
not, or where the kernel or a sandbox refuses the call, :func:`stat_files` returns None and the caller
uses ``os.stat``, which also gives the reason a file cannot be stat-ed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from itertools import repeat

import numpy as np

#: The fields asked for: file type and mode, size, modification and change times, inode number.
_STATX_TYPE, _STATX_MODE, _STATX_SIZE, _STATX_MTIME = 0x1, 0x2, 0x200, 0x40
_STATX_CTIME, _STATX_INO = 0x80, 0x100
_WANTED = _STATX_TYPE | _STATX_MODE | _STATX_SIZE | _STATX_MTIME | _STATX_CTIME | _STATX_INO
#: The fields read from ``struct statx`` (native byte order), at their offsets in its 256 bytes.
_RECORD = np.dtype(
    {
        "names": ["mask", "mode", "ino", "size", "ctime_sec", "ctime_nsec", "mtime_sec", "mtime_nsec"],
        "formats": ["u4", "u2", "u8", "u8", "i8", "u4", "i8", "u4"],
        "offsets": [0, 28, 32, 40, 96, 104, 112, 120],
        "itemsize": 256,
    }
)
_AT_FDCWD = -100


def _load_statx():
    """libc's ``statx`` where it has one and the kernel answers it (a sandbox may refuse it), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        statx = ctypes.CDLL(None, use_errno=True).statx
    except (OSError, AttributeError):
        return None
    probe = np.zeros(1, dtype=_RECORD)
    answered = statx(_AT_FDCWD, b"/", 0, _WANTED, ctypes.byref((ctypes.c_char * probe.nbytes).from_buffer(probe)))
    return statx if answered == 0 else None


_statx = _load_statx()


def stat_files(descriptor: int, names: list[str]) -> tuple[np.ndarray, ...] | None:
    """``(modes, sizes, mtimes_ns, ctimes_ns, inodes)`` of the entries ``names`` of the folder open as ``descriptor``,
    following symbolic links like ``os.stat``; None when statx is unavailable or any one of them cannot
    be stat-ed (the caller stats them one by one to learn which and why)."""
    if _statx is None or not names:
        return None
    records = np.empty(len(names), dtype=_RECORD)
    buffer = (ctypes.c_char * records.nbytes).from_buffer(records)
    encoded = os.fsencode("\0".join(names)).split(b"\0")  # as os.stat encodes each name, in one call
    # one C-level map instead of a Python loop: this is the whole per-file cost of a re-scan
    places = map(ctypes.byref, repeat(buffer), range(0, records.nbytes, _RECORD.itemsize))
    if any(map(_statx, repeat(descriptor), encoded, repeat(0), repeat(_WANTED), places)):
        return None
    if ((records["mask"] & _WANTED) != _WANTED).any():
        return None  # a filesystem that could not give a field: let os.stat decide
    mtimes = records["mtime_sec"].astype(np.int64) * 1_000_000_000 + records["mtime_nsec"]
    ctimes = records["ctime_sec"].astype(np.int64) * 1_000_000_000 + records["ctime_nsec"]
    inodes = records["ino"].view(np.int64)  # stored as int64 bits: compared, never computed with
    return records["mode"].astype(np.int64), records["size"].astype(np.int64), mtimes, ctimes, inodes
