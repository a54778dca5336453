"""A persistent cache of image headers, kept outside the dataset, so unchanged files are not re-read.

One compact ``.npz`` file per dataset source: the paths as one byte blob with offsets, and one numpy
column per fact (file size, mtime in nanoseconds, width, height, orientation, reason code). Why npz
rather than sqlite3: a re-scan needs every entry at once, and numpy loads the whole table in a few
vectorised reads (100,000 entries in tens of milliseconds) with no per-row queries; it is rewritten
whole to a temporary name and renamed over the old file, so a crash never leaves half a cache; and a
cache that cannot be read is simply rebuilt. An entry is used only when the path, size and mtime match.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from aspectbucket.headers import CONTENT_REASONS, Header

#: Bump when what a header read yields changes, so old caches are dropped instead of trusted.
CACHE_FORMAT = 1
#: Cached reason codes index this tuple ('' is code 0).
_REASONS = ("", *sorted(reason.value for reason in CONTENT_REASONS))
_CODES = {reason: code for code, reason in enumerate(_REASONS)}
_COLUMNS = ("size", "mtime_ns", "width", "height", "orientation", "reason")


def default_cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/aspectbucket``, ``~/.cache/aspectbucket``, or on Windows
    ``%LOCALAPPDATA%/aspectbucket/cache``."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "aspectbucket" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aspectbucket"


def cache_file(cache_dir: Path, image_dirs: list[Path]) -> Path:
    """The cache file for a dataset made of ``image_dirs`` (named by a hash of their absolute paths)."""
    key = b"\0".join(sorted(os.fsencode(os.path.abspath(path)) for path in image_dirs))
    return Path(cache_dir) / f"headers-{hashlib.sha256(key).hexdigest()[:20]}.npz"


def cacheable(header: Header) -> bool:
    """Whether a header depends only on the file's bytes (not on permissions or a vanished file)."""
    return header.reason in _CODES


class HeaderCache:
    """Cached headers by path, valid while a file's size and mtime stay the same."""

    def __init__(self, keys: list[bytes] | None = None, columns: dict[str, np.ndarray] | None = None):
        self._index = {key: row for row, key in enumerate(keys or [])}
        self._columns = columns or {name: np.zeros(0, dtype=np.int64) for name in _COLUMNS}

    def __len__(self) -> int:
        return len(self._index)

    @classmethod
    def load(cls, path: Path) -> HeaderCache:
        """The cache at ``path``; an empty one when it is missing, unreadable or of another format."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                if int(stored["format"]) != CACHE_FORMAT or tuple(stored["reasons"].tolist()) != _REASONS:
                    return cls()
                blob = stored["paths"].tobytes()
                offsets = stored["offsets"].tolist()
                columns = {name: stored[name].astype(np.int64) for name in _COLUMNS}
        except (OSError, ValueError, KeyError, EOFError):
            return cls()
        count = len(offsets) - 1
        if count < 0 or any(len(column) != count for column in columns.values()) or offsets[-1] != len(blob):
            return cls()
        keys = [blob[start:end] for start, end in itertools.pairwise(offsets)]
        return cls(keys, columns)

    def lookup(self, key: bytes, size: int, mtime_ns: int) -> Header | None:
        """The cached header of ``key`` if the file still has this size and mtime."""
        row = self._index.get(key)
        columns = self._columns
        if row is None or columns["size"][row] != size or columns["mtime_ns"][row] != mtime_ns:
            return None
        return Header(
            int(columns["width"][row]),
            int(columns["height"][row]),
            int(columns["orientation"][row]),
            _REASONS[int(columns["reason"][row])],
        )


def save_cache(path: Path, keys: list[bytes], sizes, mtimes, headers: list[Header]) -> None:
    """Write the given entries (and only them) to ``path`` atomically: a temporary file, then a rename.

    Raises ``OSError`` when the cache folder cannot be written; the caller reports it and goes on.
    """
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(key) for key in keys], out=offsets[1:])
    columns = {
        "size": np.asarray(sizes, dtype=np.int64),
        "mtime_ns": np.asarray(mtimes, dtype=np.int64),
        "width": np.array([header.width for header in headers], dtype=np.int64),
        "height": np.array([header.height for header in headers], dtype=np.int64),
        "orientation": np.array([header.orientation for header in headers], dtype=np.int8),
        "reason": np.array([_CODES[header.reason] for header in headers], dtype=np.int8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(
                handle,
                format=np.int64(CACHE_FORMAT),
                reasons=np.array(_REASONS),
                paths=np.frombuffer(b"".join(keys), dtype=np.uint8),
                offsets=offsets,
                **columns,
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

