"""Scanning a dataset: every image file of every subset, with its stored size and EXIF orientation.

The scan lists each subset's folder as sd-scripts does (by extension, any case), stats every file,
takes unchanged files from the header cache (:mod:`aspectbucket.scan_cache`) and reads the others'
headers on a thread pool (:mod:`aspectbucket.headers`). Nothing is ever written into the dataset; a
file that cannot be measured keeps its row with a reason, and the scan goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.dataset import Subset, read_dataset
from aspectbucket.headers import (
    IMAGE_EXTENSIONS,
    Header,
    failed,
    is_image_name,
    os_error_reason,
    read_header,
    read_header_with_pillow,
)
from aspectbucket.scan_cache import HeaderCache, cache_file, cacheable, default_cache_dir, save_cache

#: Files handed to one worker at a time: large enough that scheduling costs little, small enough
#: that the progress bar moves.
CHUNK_FILES = 256


__all__ = ["IMAGE_EXTENSIONS", "ScanFailure", "ScanResult", "is_image_name", "list_images", "scan"]


class ScanFailure(RuntimeError):
    """Raised by :meth:`ScanResult.raise_for_errors` when a caller wants unreadable files to stop it."""


@dataclass
class ScanResult:
    """Every image file found, one row each (struct of arrays), in subset order, sorted within a subset.

    ``error[i]`` is '' or a reason from :class:`aspectbucket.headers.ScanReason`; such rows have size 0.
    ``warnings`` holds folder-level notes (skipped folders, unlistable folders, an unwritable cache).
    ``from_cache`` counts the rows whose header came from the cache.
    """

    subsets: list[Subset]
    paths: list[Path]
    subset: np.ndarray
    stored_width: np.ndarray
    stored_height: np.ndarray
    orientation: np.ndarray
    error: list[str]
    warnings: list[str] = field(default_factory=list)
    from_cache: int = 0

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
        """Images whose EXIF orientation asks viewers to turn them (orientation other than 1)."""
        return self.orientation != 1

    def raise_for_errors(self) -> None:
        """Raise :class:`ScanFailure` naming the unreadable files, for callers who want to stop on them."""
        bad = [f"{path}: {reason}" for path, reason in zip(self.paths, self.error, strict=True) if reason]
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
    paths: list[Path] = []
    owners: list[int] = []
    for number, subset in enumerate(subsets):
        found, listing_warnings = list_images(subset.image_dir, subset.recursive)
        paths.extend(found)
        owners.extend([number] * len(found))
        warnings.extend(listing_warnings)

    keys = [os.fsencode(path) for path in paths]
    stats = [_stat(path) for path in paths]
    store_path = cache_file(cache or default_cache_dir(), [subset.image_dir for subset in subsets])
    store = HeaderCache.load(store_path) if use_cache else HeaderCache()
    headers: list[Header | None] = [None] * len(paths)
    todo = []
    for row, (key, stat) in enumerate(zip(keys, stats, strict=True)):
        if isinstance(stat, Header):
            headers[row] = stat
        else:
            headers[row] = store.lookup(key, *stat)
            if headers[row] is None:
                todo.append(row)
    from_cache = len(paths) - len(todo) - sum(isinstance(stat, Header) for stat in stats)
    for row, header in read_headers([(paths[row], stats[row][0]) for row in todo], jobs, progress):
        headers[todo[row]] = header

    if use_cache and (todo or len(store) != len(paths) - sum(isinstance(stat, Header) for stat in stats)):
        warnings.extend(_save(store_path, keys, stats, headers))
    return ScanResult(
        subsets=subsets,
        paths=paths,
        subset=np.array(owners, dtype=np.int64),
        stored_width=np.array([header.width for header in headers], dtype=np.int64),
        stored_height=np.array([header.height for header in headers], dtype=np.int64),
        orientation=np.array([header.orientation for header in headers], dtype=np.int8),
        error=[header.reason for header in headers],
        warnings=warnings,
        from_cache=from_cache,
    )


def list_images(directory: Path, recursive: bool) -> tuple[list[Path], list[str]]:
    """The image files in ``directory`` (absolute, sorted), searching subfolders when ``recursive``.

    Files are listed by name only: a broken link or a symlink loop named like an image is listed, and
    the scan gives it a reason. A folder reached twice (a symlink loop) is listed once, with a warning.
    """
    root = Path(os.path.abspath(directory))
    found: list[Path] = []
    warnings: list[str] = []
    seen: set[tuple[int, int]] = set()
    pending = [root]
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
            if recursive and _is_dir(entry):
                pending.append(Path(entry.path))
            elif is_image_name(entry.name) and not _is_dir(entry):
                found.append(Path(entry.path))
    found.sort()
    return found, warnings


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _stat(path: Path) -> tuple[int, int] | Header:
    """``(size, mtime_ns)`` of a regular file, or the header of a file that cannot be stat-ed."""
    try:
        status = os.stat(path)
    except OSError as error:
        return failed(os_error_reason(error, path))
    if not os.path.isfile(path):
        return failed(os_error_reason(IsADirectoryError(), path))
    return status.st_size, status.st_mtime_ns


def default_jobs() -> int:
    """Threads for header reads: reads wait on the disk, so a few per core, capped."""
    return min(16, 4 * (os.cpu_count() or 1))


def read_headers(
    files: list[tuple[Path, int]], jobs: int | None, progress: bool
) -> Iterator[tuple[int, Header]]:
    """``(index, header)`` for each ``(path, size)`` in ``files``, read on ``jobs`` threads.

    Files ``imagesize`` cannot read are read again with Pillow on this thread (see
    :func:`aspectbucket.headers.read_header_with_pillow`).
    """
    starts = range(0, len(files), CHUNK_FILES)
    chunks = [range(start, min(start + CHUNK_FILES, len(files))) for start in starts]

    def read_chunk(rows: range) -> list[Header | None]:
        return [read_header(*files[row]) for row in rows]

    workers = jobs or default_jobs()
    with _progress_bar(progress, len(files)) as advance:
        if workers <= 1 or len(chunks) <= 1:
            results = map(read_chunk, chunks)
            yield from _finish_chunks(chunks, results, files, advance)
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


def _save(path: Path, keys, stats, headers) -> list[str]:
    """Write the cacheable entries; a warning instead of an error when the cache cannot be written."""
    rows = [row for row, stat in enumerate(stats) if not isinstance(stat, Header) and cacheable(headers[row])]
    try:
        save_cache(
            path,
            [keys[row] for row in rows],
            [stats[row][0] for row in rows],
            [stats[row][1] for row in rows],
            [headers[row] for row in rows],
        )
    except OSError as error:
        return [f"header cache not saved to {path}: {error.strerror or error}"]
    return []
