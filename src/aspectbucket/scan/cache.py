"""A persistent cache of image headers, kept outside the dataset, so unchanged files are not re-read.

One small binary file per image folder (a subset's ``image_dir``), so that a folder scanned again as
part of another source (its DreamBooth folder, then a dataset config naming it) is not read again: a
header of seven little-endian int64 (magic, format, checksum of the reason texts, entries, path bytes,
listing bytes, listed images), then one int64 table with a row per fact (file size, mtime and
ctime in nanoseconds, inode, width, height, orientation, reason code), then the listed images' positions (int64), then
the paths as one NUL-separated byte string (a path can hold any byte but NUL), then the folder's entry
names as last listed, the same way (see :class:`FolderListing`).

Why this rather than sqlite3 or npz: a re-scan needs every entry at once, and this loads with one read
and two ``numpy.frombuffer`` views (no per-row queries or objects; npz's zip container cost more than
the stat calls of a 1,000-file folder); the file is rewritten whole under a temporary name and renamed
over the old one, so a crash never leaves half a cache; a cache that cannot be read, or one of another
format, is simply rebuilt. An entry is used only when the path, the file size, the mtime and ctime (ns)
and the inode all match: size and mtime alone miss a file replaced by another of the same size whose
mtime was set back (``touch -r``, ``cp -p``), which still gets a new ctime and usually a new inode.

The cache folder is never inside a dataset: :func:`aspectbucket.scan.scan` does not use one that
lies under an image folder (the command line refuses ``--cache`` there).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aspectbucket.outputs import atomic_open
from aspectbucket.scan.headers import REASONS

#: Bump when what a header read yields changes, so old caches are dropped instead of trusted.
CACHE_FORMAT = 7
#: The columns stored beside the paths, all aligned with them.
COLUMNS = ("size", "mtime_ns", "ctime_ns", "inode", "width", "height", "orientation", "reason")
#: The file header's first three numbers: "ABHC" in ASCII, the format, a checksum of the reason texts.
_FORMAT = [0x43484241, CACHE_FORMAT, zlib.crc32("\n".join(REASONS).encode())]
_HEADER_BYTES = 7 * 8
_INT64 = np.dtype("<i8")


def default_cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/aspectbucket``, ``~/.cache/aspectbucket``, or on Windows
    ``%LOCALAPPDATA%/aspectbucket/cache``."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "aspectbucket" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aspectbucket"


def cache_file(cache_dir: Path, image_dir: Path) -> Path:
    """The cache file of one image folder (named by a hash of its absolute path)."""
    key = os.fsencode(os.path.abspath(image_dir))
    return Path(cache_dir) / f"headers-{hashlib.sha256(key).hexdigest()[:20]}.bin"


def _encode(names: list[str]) -> bytes:
    """Names or paths as stored: encoded as the OS encodes them, NUL-separated (no name holds a NUL)."""
    return os.fsencode("\0".join(names))


@dataclass(frozen=True, eq=False)
class FolderListing:
    """A folder's entry names as ``os.listdir`` gave them (encoded, NUL-separated) and the positions of
    its image names among them, in path order.

    Picking image names by extension and sorting them cost a re-scan about a sixth as much as stat-ing
    the files; a folder listed again with the very same names, in the same order, takes its image names
    from here instead. Its files are still stat-ed one by one, so an edited file is still noticed.
    """

    names: bytes
    images: np.ndarray

    @classmethod
    def of(cls, names: list[str], images: list[str]) -> FolderListing:
        """The record of a listing: its ``names``, and ``images`` (some of them, in path order)."""
        position = {name: index for index, name in enumerate(names)}
        return cls(_encode(names), np.array([position[name] for name in images], dtype=np.int64))

    def images_in(self, names: list[str]) -> list[str] | None:
        """The image names among ``names``, in path order, when they are the very names recorded (and the
        recorded positions lie among them, as they do unless the cache file was damaged); else None."""
        if _encode(names) != self.names:
            return None
        if len(self.images) and not 0 <= self.images.min() <= self.images.max() < len(names):  # damaged
            return None
        return list(map(names.__getitem__, self.images.tolist()))


class HeaderCache:
    """Cached headers by path, valid while a file's size, mtime, ctime and inode stay the same.

    ``blob`` holds the paths as stored (encoded, NUL-separated); ``table`` is an int64 array with one row
    per name in :data:`COLUMNS` and one column per path; ``listing`` is the folder's last listing (None
    for a folder searched with its subfolders, or never listed).
    """

    def __init__(self, blob: bytes = b"", table: np.ndarray | None = None, listing: FolderListing | None = None):
        self.blob = blob
        self.table = table if table is not None else np.zeros((len(COLUMNS), 0), dtype=np.int64)
        self.listing = listing

    def __len__(self) -> int:
        return self.table.shape[1]

    @functools.cached_property
    def paths(self) -> list[str]:
        """The cached paths, decoded from ``blob`` only when asked for: a re-scan that finds the same
        files compares its paths' encoded text with ``blob`` instead of building a string per file. Empty
        when a damaged file holds another number of paths than of entries."""
        paths = os.fsdecode(self.blob).split("\0") if self.blob else []
        return paths if len(paths) == len(self) else []

    @classmethod
    def load(cls, path: Path) -> HeaderCache:
        """The cache at ``path``; an empty one when it is missing, unreadable, truncated or of another format."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return cls()
        if len(data) < _HEADER_BYTES:
            return cls()
        *identity, count, blob_bytes, listing_bytes, listed = np.frombuffer(data, _INT64, count=7).tolist()
        table_end = _HEADER_BYTES + len(COLUMNS) * count * 8
        blob_start = table_end + listed * 8
        sizes_fit = min(count, blob_bytes, listing_bytes, listed) >= 0
        if identity != _FORMAT or not sizes_fit or len(data) != blob_start + blob_bytes + listing_bytes:
            return cls()
        # the paths and names are counted where they are used (see paths, FolderListing.images_in): a
        # re-scan of unchanged folders compares them as bytes and never needs to count them
        blob, names = data[blob_start : blob_start + blob_bytes], data[blob_start + blob_bytes :]
        images = np.frombuffer(data, _INT64, count=listed, offset=table_end).astype(np.int64, copy=False)
        table = np.frombuffer(data, _INT64, count=len(COLUMNS) * count, offset=_HEADER_BYTES)
        listing = FolderListing(names, images) if names else None
        return cls(blob, table.reshape(len(COLUMNS), count).astype(np.int64, copy=False), listing)

    def lookup(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(found, columns)`` for ``paths``: which of them the cache holds, and their entries (a row per
        name in :data:`COLUMNS`, a column per path; meaningless where ``found`` is false)."""
        if len(paths) == len(self) and _encode(paths) == self.blob:  # the common re-scan: the same files
            return np.ones(len(paths), dtype=bool), self.table
        index = {cached: entry for entry, cached in enumerate(self.paths)}
        entries = np.array([index.get(path, -1) for path in paths], dtype=np.int64)
        found = entries >= 0
        columns = np.zeros((len(COLUMNS), len(paths)), dtype=np.int64)
        columns[:, found] = self.table[:, entries[found]]
        return found, columns


def save_cache(path: Path, paths: list[str], listing: FolderListing | None = None, **columns: np.ndarray) -> None:
    """Write these entries (and only them) and the folder's ``listing`` to ``path`` atomically: a
    temporary file, then a rename.

    ``columns`` are :data:`COLUMNS`, aligned with ``paths``. Raises ``OSError`` when the cache folder
    cannot be written; the caller reports it and goes on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = _encode(paths)
    names, images = (listing.names, listing.images) if listing else (b"", np.zeros(0, dtype=_INT64))
    table = np.array([np.asarray(columns[name], dtype=_INT64) for name in COLUMNS], dtype=_INT64)
    header = np.array([*_FORMAT, len(paths), len(blob), len(names), len(images)], dtype=_INT64)
    with atomic_open(path, "wb") as handle:
        handle.write(header.tobytes())
        handle.write(table.reshape(len(COLUMNS), len(paths)).tobytes())
        handle.write(images.astype(_INT64).tobytes())
        handle.write(blob)
        handle.write(names)
