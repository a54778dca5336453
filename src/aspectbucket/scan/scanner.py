"""Scanning a dataset: every image file of every subset, with its stored size and EXIF orientation.

The scan lists each subset's folder as sd-scripts does (by extension, any case) and stats each file
while listing it; unchanged files (same path, size, mtime, ctime and inode) come from the header cache
(:mod:`aspectbucket.scan.cache`), the others' headers are read on a thread pool
(:mod:`aspectbucket.scan.headers`). Rows are kept as arrays, so a re-scan of 100,000 files costs little
more than listing and stat-ing them. Nothing is ever written into the dataset; a file that cannot
be measured keeps its row with a reason, and the scan goes on.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.outputs import real_path
from aspectbucket.progress import progress_bar
from aspectbucket.scan.cache import COLUMNS, FolderListing, HeaderCache, cache_file, default_cache_dir, save_cache
from aspectbucket.scan.headers import (
    CONTENT_REASONS,
    IMAGE_EXTENSIONS,
    REASON_CODES,
    REASONS,
    Header,
    ScanReason,
    os_error_reason,
    read_header,
    read_header_with_pillow,
)
from aspectbucket.scan.sources import Subset, is_dir_entry, read_dataset
from aspectbucket.scan.statx import stat_files

__all__ = [
    "IMAGE_EXTENSIONS",
    "PathList",
    "ScanFailure",
    "ScanResult",
    "list_images",
    "regularization_repeats",
    "scan",
]

#: Files handed to one worker at a time: large enough that scheduling costs little, small enough
#: that the progress bar moves.
CHUNK_FILES = 256
#: A header read slower than this (per file, over the first chunk) waited on storage: use threads.
SLOW_READ_SECONDS = 200e-6
NOT_A_FILE = REASON_CODES[ScanReason.NOT_A_FILE]
_CACHEABLE_CODES = np.array(sorted(REASON_CODES[reason] for reason in CONTENT_REASONS), dtype=np.int8)


class ScanFailure(RuntimeError):
    """Raised by :meth:`ScanResult.raise_for_errors` when a caller wants unreadable files to stop it."""


def _all_text(paths) -> bool:
    return isinstance(paths, list) and all(type(path) is str for path in paths)


class PathList(Sequence[Path]):
    """A read-only list of paths kept as text and turned into :class:`~pathlib.Path` on access.

    A scan of 100,000 files would otherwise spend more time building Path objects than re-checking
    the files; ``strings`` gives the text itself (for JSON, CSV and sorting).
    """

    __slots__ = ("strings",)

    def __init__(self, paths=()):
        self.strings: list[str] = list(paths) if _all_text(paths) else [os.fspath(path) for path in paths]

    @classmethod
    def of_strings(cls, strings: list[str]) -> PathList:
        """A PathList holding ``strings`` itself (no copy, no checks): for code that built the list."""
        paths = cls()
        paths.strings = strings
        return paths

    def __len__(self) -> int:
        return len(self.strings)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PathList(self.strings[index])
        return Path(self.strings[index])

    def __iter__(self) -> Iterator[Path]:
        return map(Path, self.strings)

    def __eq__(self, other) -> bool:
        if isinstance(other, PathList):
            return self.strings == other.strings
        if isinstance(other, list | tuple):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"PathList({self.strings!r})"


@dataclass
class ScanResult:
    """Every image file found, one row each (struct of arrays), in subset order, sorted within a subset.

    ``paths`` are absolute (a :class:`PathList`; any sequence of paths given is converted).
    ``error[i]`` is '' or a reason from :class:`aspectbucket.scan.headers.ScanReason`; such rows have size 0.
    ``warnings`` holds folder-level notes (skipped folders, unlistable folders, an unwritable cache).
    ``from_cache`` counts the rows whose header came from the cache.
    """

    subsets: list[Subset]
    paths: PathList
    subset: np.ndarray
    stored_width: np.ndarray
    stored_height: np.ndarray
    orientation: np.ndarray
    error: list[str]
    warnings: list[str] = field(default_factory=list)
    from_cache: int = 0

    def __post_init__(self):
        if not isinstance(self.paths, PathList):
            self.paths = PathList(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def sizes(self, respect_exif: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(widths, heights)``: as stored, or upright (swapped for EXIF orientations 5..8)."""
        if not respect_exif:
            return self.stored_width, self.stored_height
        turned = self.orientation >= 5
        return (
            np.where(turned, self.stored_height, self.stored_width),
            np.where(turned, self.stored_width, self.stored_height),
        )

    @property
    def repeats(self) -> np.ndarray:
        """How many times sd-scripts puts each image in its buckets per epoch: its subset's repeats,
        except regularization images (``is_reg`` subsets), which sd-scripts registers and repeats until
        they match the training images of their dataset block (see :func:`regularization_repeats`)."""
        repeats = np.array([subset.repeats for subset in self.subsets], dtype=np.int64)[self.subset]
        regular = np.array([subset.is_reg for subset in self.subsets], dtype=bool)[self.subset]
        blocks = self.dataset_index
        for block in np.unique(blocks[regular]).tolist():
            rows = np.flatnonzero((blocks == block) & regular)
            trained = int(repeats[(blocks == block) & ~regular].sum())
            repeats[rows] = regularization_repeats(repeats[rows], trained)
        return repeats

    @property
    def dataset_index(self) -> np.ndarray:
        """The kohya ``[[datasets]]`` block of each image (0 for folders)."""
        return np.array([subset.dataset for subset in self.subsets], dtype=np.int64)[self.subset]

    @property
    def rotated(self) -> np.ndarray:
        """Images whose EXIF orientation asks viewers to turn or mirror them (orientation other than 1)."""
        return self.orientation != 1

    def raise_for_errors(self) -> None:
        """Raise :class:`ScanFailure` naming the unreadable files, for callers who want to stop on them."""
        bad = [f"{path}: {reason}" for path, reason in zip(self.paths.strings, self.error, strict=True) if reason]
        if bad:
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            raise ScanFailure(f"{len(bad)} unreadable image file(s): " + "; ".join(bad[:5]) + more)


def regularization_repeats(repeats: np.ndarray, trained: int) -> np.ndarray:
    """The repeats sd-scripts gives a block's regularization images (in subset order, then path order)
    so that they add up to ``trained``, its training images times their repeats.

    ``DreamBoothDataset`` registers them one by one with their own repeats until the count reaches
    ``trained`` (the rest are not used; it warns "some of reg images are not used"), then, while the
    count is short, adds one repeat to each in turn.
    """
    repeats = np.asarray(repeats, dtype=np.int64)
    result = np.zeros_like(repeats)
    if trained <= 0 or len(repeats) == 0:
        return result
    reached = np.cumsum(repeats)
    enough = np.flatnonzero(reached >= trained)
    if len(enough):  # the first pass reaches the count at image enough[0]: later ones are never used
        used = enough[0] + 1
        result[:used] = repeats[:used]
        return result
    rounds, extra = divmod(trained - int(reached[-1]), len(repeats))
    result[:] = repeats + rounds
    result[:extra] += 1
    return result


def scan(
    source: Path | list[Subset],
    *,
    cache: Path | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    progress: bool = False,
) -> ScanResult:
    """Scan a dataset source (see :func:`aspectbucket.scan.sources.load_dataset`) or a list of subsets.

    ``cache`` is the cache folder (default: :func:`~aspectbucket.scan.cache.default_cache_dir`);
    ``use_cache=False`` neither reads nor writes it. ``jobs`` threads read headers (default: one while
    files come from memory, a few per core when they make the scan wait on storage; see
    :func:`read_headers`). ``progress`` shows a progress bar on terminals.
    """
    if isinstance(source, list | tuple):
        subsets, warnings = list(source), []
    else:
        subsets, warnings = read_dataset(Path(source))
    cache_dir = Path(cache or default_cache_dir())
    if use_cache and _lies_in_a_subset(cache_dir, subsets):
        warnings.append(f"header cache not used: {cache_dir} lies inside the dataset, where nothing is written")
        use_cache = False
    caches = _FolderCaches(cache_dir, subsets, use_cache)
    table, counts, listings = _list_subsets(subsets, warnings, caches.listings())
    owner = np.repeat(np.arange(len(subsets), dtype=np.int64), counts)
    hit = caches.fill(table, owner)
    todo = np.flatnonzero((table.code == 0) & ~hit)
    done = hit.copy()
    try:
        rows = todo.tolist()
        files = [(table.strings[row], size) for row, size in zip(rows, table.size[todo].tolist(), strict=True)]
        for indices, headers in read_headers(files, jobs, progress):
            chunk_rows = todo[indices.start : indices.stop]
            table.set(chunk_rows, headers)
            done[chunk_rows] = True
    finally:  # an interrupted scan keeps what it read, so the next one resumes from there
        warnings.extend(caches.save(table, owner, listings, done, todo))
    return ScanResult(
        subsets=subsets,
        paths=PathList.of_strings(table.strings),
        subset=owner,
        stored_width=table.width,
        stored_height=table.height,
        orientation=table.orientation,
        error=np.array(REASONS, dtype=object)[table.code].tolist(),
        warnings=warnings,
        from_cache=int(hit.sum()),
    )


def _lies_in_a_subset(folder: Path, subsets: list[Subset]) -> bool:
    target = real_path(folder)
    return any(target == root or root in target.parents for root in (real_path(s.image_dir) for s in subsets))


class _FileTable:
    """The files of a scan as columns: path text, size, mtime, ctime, inode, reason code, then what
    headers say."""

    def __init__(self, listing: Listing):
        self.strings = strings = listing.paths
        self.size = np.array(listing.sizes, dtype=np.int64)
        self.mtime = np.array(listing.mtimes, dtype=np.int64)
        self.ctime = np.array(listing.ctimes, dtype=np.int64)
        self.inode = np.array(listing.inodes, dtype=np.int64)
        code = listing.codes
        # most scans list no file that could not be examined: no need to convert a list of zeros
        self.code = np.array(code, dtype=np.int8) if any(code) else np.zeros(len(strings), dtype=np.int8)
        self.width = np.zeros(len(strings), dtype=np.int64)
        self.height = np.zeros(len(strings), dtype=np.int64)
        self.orientation = np.ones(len(strings), dtype=np.int8)

    def strings_at(self, rows: np.ndarray | slice) -> list[str]:
        """The paths of ``rows``."""
        if isinstance(rows, slice):
            return self.strings[rows]
        return [self.strings[row] for row in rows.tolist()]

    def set(self, rows: np.ndarray, headers: list[Header]) -> None:
        """Store the headers read for ``rows`` (one header per row, in order)."""
        widths, heights, orientations, reasons = zip(*headers, strict=True)
        self.width[rows], self.height[rows], self.orientation[rows] = widths, heights, orientations
        self.code[rows] = [REASON_CODES[reason] for reason in reasons]


def _list_subsets(
    subsets: list[Subset], warnings: list[str], known: list[FolderListing | None]
) -> tuple[_FileTable, list[int], list[FolderListing | None]]:
    """Every subset's image files, one after the other, how many each has, and each one's folder listing
    (``known`` holds the ones last recorded; see :func:`list_images`)."""
    table = Listing()
    counts = []
    listings = []
    for subset, last in zip(subsets, known, strict=True):
        listing, listing_warnings = list_images(subset.image_dir, subset.recursive, last)
        warnings.extend(listing_warnings)
        if not listing.paths and not listing_warnings:
            warnings.append(f"no images in {os.path.abspath(subset.image_dir)}: sd-scripts ignores this subset")
        counts.append(len(listing.paths))
        listings.append(listing.folder)
        table.extend(listing)
    return _FileTable(table), counts, listings


@dataclass
class Listing:
    """Image files found by :func:`list_images`, as columns: absolute path, size, mtime and ctime (ns),
    inode (as a signed 64-bit number), reason code (0 for a regular file; files that could not be
    examined have zeros); and ``folder``, the record of the folder's listing when it was listed without
    subfolders."""

    paths: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    ctimes: list[int] = field(default_factory=list)
    inodes: list[int] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    folder: FolderListing | None = None

    def extend(self, other: Listing) -> None:
        self.paths += other.paths
        self.sizes += other.sizes
        self.mtimes += other.mtimes
        self.ctimes += other.ctimes
        self.inodes += other.inodes
        self.codes += other.codes

    def append(self, path: str, status: os.stat_result | None, code: int) -> None:
        self.paths.append(path)
        self.sizes.append(status.st_size if status else 0)
        self.mtimes.append(status.st_mtime_ns if status else 0)
        self.ctimes.append(status.st_ctime_ns if status else 0)
        self.inodes.append(signed_inode(status.st_ino) if status else 0)
        self.codes.append(code)

    def sorted(self) -> Listing:
        """The same files ordered by path."""
        order = sorted(range(len(self.paths)), key=self.paths.__getitem__)
        columns = (self.paths, self.sizes, self.mtimes, self.ctimes, self.inodes, self.codes)
        return Listing(*([column[row] for row in order] for column in columns))


def signed_inode(inode: int) -> int:
    """An inode number (unsigned, up to 64 bits) as the int64 the cache stores: the same bits."""
    return inode - (1 << 64) if inode >= 1 << 63 else inode


def list_images(directory: Path, recursive: bool, known: FolderListing | None = None) -> tuple[Listing, list[str]]:
    """Each image file in ``directory`` (a :class:`Listing`, sorted by absolute path), searching
    subfolders when ``recursive``; and the warnings met on the way. ``known`` is the folder's listing as
    last recorded (``Listing.folder``), which spares a folder listed with the same names, in the same
    order, picking and sorting its image names again.

    Files are taken by name, as sd-scripts takes them: a broken link or a symlink loop named like an
    image is listed with its reason code. Hidden files and folders (names starting with a dot) are
    skipped, as sd-scripts' glob skips them. A folder reached twice (a symlink loop) is listed once.
    """
    found = Listing()
    warnings: list[str] = []
    seen: set[tuple[int, int]] = set()
    pending = [os.path.abspath(directory)]
    folders = 0
    while pending:
        folder = pending.pop()
        try:
            with _folder_listing(folder, recursive) as (identity, names, subfolders, descriptor):
                if (identity.st_dev, identity.st_ino) in seen:
                    warnings.append(f"skipped {folder}: a symlink loop leads back to a folder already listed")
                    continue
                seen.add((identity.st_dev, identity.st_ino))
                folders += 1
                prefix = os.path.join(folder, "")
                if recursive:
                    images = _image_names(names)
                else:
                    images = known.images_in(names) if known is not None else None
                    if images is None:
                        images = _image_names(names)
                        known = FolderListing.of(names, images)
                    found.folder = known
                _stat_images(images, prefix, descriptor, found)
                pending += [prefix + name for name in subfolders]
        except FileNotFoundError:
            warnings.append(f"folder not found: {folder}")
        except OSError as error:
            warnings.append(f"cannot list folder {folder}: {error.strerror}")
    # One folder's files are sorted already (by name, under one prefix); files from several need merging.
    return (found.sorted() if folders > 1 else found), warnings


def _image_names(names: list[str]) -> list[str]:
    """The names that sd-scripts takes for images (see :func:`aspectbucket.scan.headers.is_image_name`, inlined
    here because it runs per file: most names need no lower-casing), sorted."""
    images = [
        name
        for name in names
        if name[0] != "." and (name.endswith(IMAGE_EXTENSIONS) or name.lower().endswith(IMAGE_EXTENSIONS))
    ]
    images.sort()
    return images


_BY_DESCRIPTOR = os.listdir in os.supports_fd and os.scandir in os.supports_fd and os.stat in os.supports_dir_fd


@contextmanager
def _folder_listing(folder: str, recursive: bool) -> Iterator[tuple[os.stat_result, list[str], list[str], int | None]]:
    """``(identity, names, subfolders, descriptor)`` of a folder: every entry's name, the visible
    subfolders' names when ``recursive`` (else none), and an open descriptor of the folder, or None.

    Where the OS allows, the folder is listed and its files stat-ed by descriptor, so each stat
    resolves one path component instead of the whole path; a plain listing of names is cheaper than
    ``scandir``'s entries, which are only needed to tell subfolders apart without a stat each.
    """
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY) if _BY_DESCRIPTOR else None
    try:
        identity = os.stat(folder) if descriptor is None else os.fstat(descriptor)
        target = folder if descriptor is None else descriptor
        if not recursive:
            yield identity, os.listdir(target), [], descriptor
            return
        with os.scandir(target) as listing:
            entries = list(listing)
        subfolders = [entry.name for entry in entries if entry.name[0] != "." and is_dir_entry(entry)]
        yield identity, [entry.name for entry in entries], subfolders, descriptor
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _stat_images(names: list[str], prefix: str, descriptor: int | None, found: Listing) -> None:
    """Stat each file named like an image (``prefix + name``; by ``descriptor`` when given) and add it
    to ``found``: a regular file with its size and mtime, anything else but a folder with its reason
    (folders are searched, or not, by the caller).

    This runs once per file and is all a re-scan does besides loading the cache, so the common case
    (every entry a readable regular file) is one batch (:func:`aspectbucket.scan.statx.stat_files`, on
    Linux) or a few list comprehensions; anything else takes the slow path, file by file.
    """
    paths = [prefix + name for name in names]
    columns = _stat_columns(names, paths, descriptor)
    # the distinct modes are few (file types times permissions): test those, not each file's
    if columns is not None and all(map(stat_module.S_ISREG, set(columns[0]))):
        found.paths += paths
        found.sizes += columns[1]
        found.mtimes += columns[2]
        found.ctimes += columns[3]
        found.inodes += columns[4]
        found.codes += [0] * len(names)
        return
    for name, path in zip(names, paths, strict=True):
        try:
            status = os.stat(path) if descriptor is None else os.stat(name, dir_fd=descriptor)
        except OSError as error:
            found.append(path, None, REASON_CODES[os_error_reason(error, path)])
            continue
        if stat_module.S_ISREG(status.st_mode):
            found.append(path, status, 0)
        elif not stat_module.S_ISDIR(status.st_mode):
            found.append(path, None, NOT_A_FILE)


def _stat_columns(names: list[str], paths: list[str], descriptor: int | None) -> tuple[list[int], ...] | None:
    """Modes, sizes, mtimes and ctimes (ns) and inodes of the files, in one batch where statx allows,
    else by ``os.stat``; None when any of them cannot be stat-ed."""
    batch = stat_files(descriptor, names) if descriptor is not None else None
    if batch is not None:
        return tuple(column.tolist() for column in batch)
    try:
        if descriptor is None:
            statuses = [os.stat(path) for path in paths]
        else:
            statuses = [os.stat(name, dir_fd=descriptor) for name in names]
    except OSError:
        return None
    return (
        [status.st_mode for status in statuses],
        [status.st_size for status in statuses],
        [status.st_mtime_ns for status in statuses],
        [status.st_ctime_ns for status in statuses],
        [signed_inode(status.st_ino) for status in statuses],
    )


def default_jobs() -> int:
    """Threads for header reads that wait on the disk: a few per core, capped."""
    return min(16, 4 * (os.cpu_count() or 1))


def read_headers(
    files: list[tuple[str, int]], jobs: int | None, progress: bool
) -> Iterator[tuple[range, list[Header]]]:
    """``(indices, headers)`` chunk by chunk, in order, for the ``(path, size)`` pairs of ``files``, read
    on ``jobs`` threads.

    With ``jobs=None`` the first chunk is read on this thread and timed: files that come from memory
    (the OS page cache, a fast SSD) take a few microseconds of I/O and the rest is Python holding the
    GIL, where threads only contend, so the scan stays on one thread; files that make it wait on the
    disk or the network go to :func:`default_jobs` threads. Files the thread-safe readers cannot
    measure are read again with Pillow on this thread (see :func:`aspectbucket.scan.headers.read_header_with_pillow`).
    """
    starts = range(0, len(files), CHUNK_FILES)
    chunks = [range(start, min(start + CHUNK_FILES, len(files))) for start in starts]

    def read_chunk(rows: range) -> list[Header | None]:
        return [read_header(*files[row]) for row in rows]

    with progress_bar("reading image headers", len(files), progress) as advance:
        workers = jobs
        if jobs is None and chunks:
            start = time.perf_counter()
            yield from _finish_chunks(chunks[:1], [read_chunk(chunks[0])], files, advance)
            waited = (time.perf_counter() - start) / len(chunks[0]) > SLOW_READ_SECONDS
            chunks, workers = chunks[1:], default_jobs() if waited else 1
        if workers is None or workers <= 1 or len(chunks) <= 1:
            yield from _finish_chunks(chunks, map(read_chunk, chunks), files, advance)
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspectbucket-scan")
        try:
            yield from _finish_chunks(chunks, pool.map(read_chunk, chunks), files, advance)
        finally:  # on an interrupt, drop the chunks not started instead of reading them all first
            pool.shutdown(wait=True, cancel_futures=True)


def _finish_chunks(chunks, results, files, advance) -> Iterator[tuple[range, list[Header]]]:
    for rows, headers in zip(chunks, results, strict=True):
        if None in headers:
            headers = [
                header if header is not None else read_header_with_pillow(*files[row])
                for row, header in zip(rows, headers, strict=True)
            ]
        yield rows, headers
        advance(len(rows))


class _FolderCaches:
    """One header cache file per image folder, shared by every subset (and every source) naming it."""

    def __init__(self, cache_dir: Path, subsets: list[Subset], use_cache: bool):
        self.use_cache = use_cache
        self.files = [cache_file(cache_dir, subset.image_dir) for subset in subsets]  # one per subset
        self.shared = {path for path, named in Counter(self.files).items() if named > 1}
        self.stores = {path: HeaderCache.load(path) if use_cache else HeaderCache() for path in self.files}

    def listings(self) -> list[FolderListing | None]:
        """Each subset's folder listing as its cache last recorded it."""
        return [self.stores[path].listing for path in self.files]

    def _rows(self, owner: np.ndarray) -> dict[Path, np.ndarray]:
        """The rows of each cache file's folder (``owner`` is each row's subset, sorted)."""
        rows: dict[Path, np.ndarray] = {}
        ends = np.searchsorted(owner, np.arange(len(self.files)), side="right")
        for number, path in enumerate(self.files):
            subset_rows = np.arange(ends[number - 1] if number else 0, ends[number])
            rows[path] = np.union1d(rows[path], subset_rows) if path in rows else subset_rows
        return rows

    def fill(self, table: _FileTable, owner: np.ndarray) -> np.ndarray:
        """Fill ``table`` from the caches (entries of files with the same size, mtime, ctime and inode); returns the
        rows they answered. Every folder's entries are gathered first and checked all at once."""
        cached = np.zeros((len(COLUMNS), len(table.strings)), dtype=np.int64)
        known = np.zeros(len(table.strings), dtype=bool)
        for path, rows in self._rows(owner).items():
            rows = _as_slice(rows)
            known[rows], cached[:, rows] = self.stores[path].lookup(table.strings_at(rows))
        columns = dict(zip(COLUMNS, cached, strict=True))
        same = (columns["size"] == table.size) & (columns["mtime_ns"] == table.mtime)
        same &= (columns["ctime_ns"] == table.ctime) & (columns["inode"] == table.inode)
        hit = known & same & (table.code == 0)
        for name in ("width", "height", "orientation"):
            np.copyto(getattr(table, name), columns[name], where=hit)
        np.copyto(table.code, columns["reason"], where=hit)
        return hit

    def save(
        self,
        table: _FileTable,
        owner: np.ndarray,
        listings: list[FolderListing | None],
        done: np.ndarray,
        read: np.ndarray,
    ) -> list[str]:
        """Store the ``done`` rows whose result depends only on the file's bytes, and each folder's
        listing, in each cache that changed (rows ``read`` now, entries gone, a folder listed anew);
        warnings for caches that cannot be written."""
        if not self.use_cache:
            return []
        keep = done & np.isin(table.code, _CACHEABLE_CODES)
        was_read = np.zeros(len(table.strings), dtype=bool)
        was_read[read] = True
        listing_of = {}  # a folder named by several subsets: the listing of one not searched recursively
        for path, listing in zip(self.files, listings, strict=True):
            if listing_of.get(path) is None:
                listing_of[path] = listing
        warnings = []
        for path, rows in self._rows(owner).items():
            kept = rows[keep[rows]]
            if path in self.shared:  # a folder named twice is stored once
                kept = _first_of_each_path(table, kept)
            store, listing = self.stores[path], listing_of[path]
            if was_read[rows].any() or len(store) != len(kept) or listing is not store.listing:
                warnings.extend(_save(path, table, kept, listing))
        return warnings


def _as_slice(rows: np.ndarray) -> np.ndarray | slice:
    """``rows`` as a slice when they follow each other (one subset's, as listed): numpy and lists take a
    slice without gathering it row by row."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _first_of_each_path(table: _FileTable, rows: np.ndarray) -> np.ndarray:
    first: dict[str, int] = {}
    for row in rows.tolist():
        first.setdefault(table.strings[row], row)
    return np.array(list(first.values()), dtype=np.int64)


def _save(path: Path, table: _FileTable, rows: np.ndarray, listing: FolderListing | None) -> list[str]:
    """Write these rows and the folder's listing to the cache file; a warning instead of an error when it
    cannot be written."""
    try:
        save_cache(
            path,
            [table.strings[row] for row in rows.tolist()],
            listing,
            size=table.size[rows],
            mtime_ns=table.mtime[rows],
            ctime_ns=table.ctime[rows],
            inode=table.inode[rows],
            width=table.width[rows],
            height=table.height[rows],
            orientation=table.orientation[rows],
            reason=table.code[rows],
        )
    except OSError as error:
        return [f"header cache not saved to {path}: {error.strerror or error}"]
    return []
