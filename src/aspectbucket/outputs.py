"""Files that appear only once they are completely written: a temporary name, then a rename.

A reader (or a killed run) never sees half a report or half a table, and an existing file is replaced
in one step. The temporary file sits beside the target, so the rename stays on one file system.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "w", newline: str | None = None) -> Iterator:
    """Open ``path`` for writing (``"w"`` text as UTF-8, or ``"wb"``); it appears only on success."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": newline}
        with os.fdopen(handle, mode, **text) as stream:
            yield stream
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
