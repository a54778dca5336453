"""Scanning a dataset: every image file of every subset, with its stored size and EXIF orientation.

The scan lists each subset's folder as sd-scripts does (by extension, any case) and stats each file
while listing it; unchanged files (same path, size and mtime) come from the header cache
(:mod:`aspectbucket.scan_cache`), the others' headers are read on a thread pool
(:mod:`aspectbucket.headers`). Rows are kept as arrays, so a re-scan of 100,000 files costs little
more than listing and stat-ing them. Nothing is ever written into the dataset; a file that cannot
be measured keeps its row with a reason, and the scan goes on.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.dataset import Subset, read_dataset
from aspectbucket.headers import (
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
from aspectbucket.scan_cache import HeaderCache, cache_file, default_cache_dir, save_cache

__all__ = ["IMAGE_EXTENSIONS", "PathList", "ScanFailure", "ScanResult", "list_images", "scan"]

#: Files handed to one worker at a time: large enough that scheduling costs little, small enough
#: that the progress bar moves.
CHUNK_FILES = 256
_CACHEABLE_CODES = np.array(sorted(REASON_CODES[reason] for reason in CONTENT_REASONS), dtype=np.int8)


class ScanFailure(RuntimeError):
    """Raised by :meth:`ScanResult.raise_for_errors` when a caller wants unreadable files to stop it."""


class PathList(Sequence[Path]):
    """A read-only list of paths kept as text and turned into :class:`~pathlib.Path` on access.

    A scan of 100,000 files would otherwise spend more time building Path objects than re-checking
    the files; ``strings`` gives the text itself (for JSON, CSV and sorting).
    """

    __slots__ = ("strings",)

    def __init__(self, paths=()):
        self.strings: list[str] = [os.fspath(path) for path in paths]

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
    ``error[i]`` is '' or a reason from :class:`aspectbucket.headers.ScanReason`; such rows have size 0.
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
        """The repeats of each image's subset."""
        return np.array([subset.repeats for subset in self.subsets], dtype=np.int64)[self.subset]

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
        bad = [
            f"{path}: {reason}" for path, reason in zip(self.paths.strings, self.error, strict=True) if reason
        ]
        if bad:
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            raise ScanFailure(f"{len(bad)} unreadable image file(s): " + "; ".join(bad[:5]) + more)


def scan(
    source: Path | list[Subset],
    *,
    cache: Path | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    progress: bool = False,
) -> ScanResult:
    """Scan a dataset source (see :func:`aspectbucket.dataset.load_dataset`) or a list of subsets.

    ``cache`` is the cache folder (default: :func:`~aspectbucket.scan_cache.default_cache_dir`);
    ``use_cache=False`` neither reads nor writes it. ``jobs`` threads read headers (default: a few per
    core). ``progress`` shows a progress bar on terminals.
    """
    if isinstance(source, list | tuple):
        subsets, warnings = list(source), []
    else:
        subsets, warnings = read_dataset(Path(source))
    strings: list[str] = []
    columns: list[list[int]] = [[], [], []]  # size, mtime_ns, reason code
    counts = []
    for subset in subsets:
        files, listing_warnings = list_images(subset.image_dir, subset.recursive)
        warnings.extend(listing_warnings)
        counts.append(len(files))
        if files:
            found, *facts = zip(*files, strict=True)
            strings.extend(found)
            for column, values in zip(columns, facts, strict=True):
                column.extend(values)
    size = np.array(columns[0], dtype=np.int64)
    mtime = np.array(columns[1], dtype=np.int64)
    code = np.array(columns[2], dtype=np.int8)
    width = np.zeros(len(strings), dtype=np.int64)
    height = np.zeros(len(strings), dtype=np.int64)
    orientation = np.ones(len(strings), dtype=np.int8)

    store_path = cache_file(cache or default_cache_dir(), [subset.image_dir for subset in subsets])
    store = HeaderCache.load(store_path) if use_cache else HeaderCache()
    hit, cached = store.lookup(strings, size, mtime)
    hit &= code == 0
    for target, name in (
        (width, "width"),
        (height, "height"),
        (orientation, "orientation"),
        (code, "reason"),
    ):
        target[hit] = cached[name][hit]
    todo = np.flatnonzero((code == 0) & ~hit)
    files = [(strings[row], columns[0][row]) for row in todo.tolist()]
    for index, header in read_headers(files, jobs, progress):
        row = todo[index]
        width[row], height[row], orientation[row] = header.width, header.height, header.orientation
        code[row] = REASON_CODES[header.reason]

    keep = np.isin(code, _CACHEABLE_CODES)
    if use_cache and (len(todo) or len(store) != int(keep.sum())):
        warnings.extend(_save(store_path, strings, keep, size, mtime, width, height, orientation, code))
    return ScanResult(
        subsets=subsets,
        paths=PathList(strings),
        subset=np.repeat(np.arange(len(subsets), dtype=np.int64), counts),
        stored_width=width,
        stored_height=height,
        orientation=orientation,
        error=np.array(REASONS, dtype=object)[code].tolist(),
        warnings=warnings,
        from_cache=int(hit.sum()),
    )


def list_images(directory: Path, recursive: bool) -> tuple[list[tuple[str, int, int, int]], list[str]]:
    """``(path, size, mtime_ns, reason code)`` of each image file in ``directory``, sorted by path
    (absolute), searching subfolders when ``recursive``; and the warnings met on the way.

    Files are taken by name, as sd-scripts takes them: a broken link or a symlink loop named like an
    image is listed with its reason code. A folder reached twice (a symlink loop) is listed once.
    """
    found: list[tuple[str, int, int, int]] = []
    warnings: list[str] = []
    seen: set[tuple[int, int]] = set()
    pending = [os.path.abspath(directory)]
    extensions = frozenset(IMAGE_EXTENSIONS)
    while pending:
        folder = pending.pop()
        try:
            identity = os.stat(folder)
            with os.scandir(folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            warnings.append(f"folder not found: {folder}")
            continue
        except OSError as error:
            warnings.append(f"cannot list folder {folder}: {error.strerror}")
            continue
        if (identity.st_dev, identity.st_ino) in seen:
            warnings.append(f"skipped {folder}: a symlink loop leads back to a folder already listed")
            continue
        seen.add((identity.st_dev, identity.st_ino))
        for entry in entries:
            name = entry.name  # is_image_name, inlined: this loop runs once per file of the dataset
            dot = name.rfind(".")
            if dot > 0 and name[dot:].lower() in extensions:
                listed = _stat_entry(entry)
                if listed is None:
                    if recursive:
                        pending.append(entry.path)
                else:
                    found.append(listed)
            elif recursive and _is_dir(entry):
                pending.append(entry.path)
    found.sort()
    return found, warnings


def _stat_entry(entry: os.DirEntry) -> tuple[str, int, int, int] | None:
    """``(path, size, mtime_ns, reason code)`` of an image-named entry; ``None`` for a folder."""
    try:
        status = entry.stat()
    except OSError as error:
        return entry.path, 0, 0, REASON_CODES[os_error_reason(error, entry.path)]
    if stat_module.S_ISREG(status.st_mode):
        return entry.path, status.st_size, status.st_mtime_ns, 0
    if stat_module.S_ISDIR(status.st_mode):
        return None
    return entry.path, 0, 0, REASON_CODES[ScanReason.NOT_A_FILE]


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def default_jobs() -> int:
    """Threads for header reads: reads wait on the disk, so a few per core, capped."""
    return min(16, 4 * (os.cpu_count() or 1))


def read_headers(
    files: list[tuple[str, int]], jobs: int | None, progress: bool
) -> Iterator[tuple[int, Header]]:
    """``(index, header)`` for each ``(path, size)`` in ``files``, read on ``jobs`` threads.

    Files the thread-safe readers cannot measure are read again with Pillow on this thread (see
    :func:`aspectbucket.headers.read_header_with_pillow`).
    """
    starts = range(0, len(files), CHUNK_FILES)
    chunks = [range(start, min(start + CHUNK_FILES, len(files))) for start in starts]

    def read_chunk(rows: range) -> list[Header | None]:
        return [read_header(*files[row]) for row in rows]

    workers = jobs or default_jobs()
    with _progress_bar(progress, len(files)) as advance:
        if workers <= 1 or len(chunks) <= 1:
            yield from _finish_chunks(chunks, map(read_chunk, chunks), files, advance)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspectbucket-scan") as pool:
                yield from _finish_chunks(chunks, pool.map(read_chunk, chunks), files, advance)


def _finish_chunks(chunks, results, files, advance) -> Iterator[tuple[int, Header]]:
    for rows, headers in zip(chunks, results, strict=True):
        for row, header in zip(rows, headers, strict=True):
            yield row, header if header is not None else read_header_with_pillow(*files[row])
        advance(len(rows))


@contextmanager
def _progress_bar(shown: bool, total: int):
    """A function that advances a rich progress bar (on terminals only), or does nothing."""
    if not shown or total == 0:
        yield lambda count: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("reading image headers"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda count: bar.advance(task, count)


def _save(path: Path, strings, keep, size, mtime, width, height, orientation, code) -> list[str]:
    """Write the cacheable rows; a warning instead of an error when the cache cannot be written."""
    try:
        save_cache(
            path,
            [string for string, kept in zip(strings, keep.tolist(), strict=True) if kept],
            size=size[keep],
            mtime_ns=mtime[keep],
            width=width[keep],
            height=height[keep],
            orientation=orientation[keep],
            reason=code[keep],
        )
    except OSError as error:
        return [f"header cache not saved to {path}: {error.strerror or error}"]
    return []
