"""The one guarded way every command opens what it writes: never under an input, never half a file.

Every writer (reports, tables, the header cache, exports) comes through here, so a Python caller gets
the same guarantees as the command line:

* :func:`refuse_inside`: an output whose real path (every symlink resolved, the target's own included)
  is an input file or lies in or under an input folder is refused with :class:`OutputRefused`;
* :func:`atomic_open`: a single file is written to a temporary name beside it, flushed to disk
  (``fsync``) and renamed over the target, so a reader or a killed run never sees half of it; a device
  node, FIFO or folder at the target is refused (``-`` means standard output, the only stream allowed);
* :class:`OutputTree`: an export's folder, locked for one run at a time; each file in it is written
  folder by folder through descriptors opened with ``O_NOFOLLOW``, so a symlink planted inside the
  output folder is never followed (back into a dataset, for example).
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: The output name that means standard output.
STDOUT = "-"

#: Temporary files end with this, so a later run can find and remove what a killed one left.
TEMP_SUFFIX = ".aspectbucket-part"

_counter = itertools.count()


class OutputRefused(ValueError):
    """An output aspectbucket will not write: under an input, a special file, or through a symlink."""


def real_path(path: Path | str) -> Path:
    """``path`` with ``~`` expanded and every symlink resolved (a missing tail is kept as written)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def shown(path: Path | str) -> str:
    """A path as one line of printable text: control characters escaped, bad bytes as ``\\xNN``."""
    text = os.fspath(path)
    if text.isprintable():  # the common case; a lone surrogate (a byte that is not UTF-8) is not printable
        return text
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def refuse_inside(output: Path | str, inputs: Iterable[Path | str]) -> None:
    """Raise :class:`OutputRefused` when ``output``'s real path is one of ``inputs`` or lies under one."""
    if os.fspath(output) == STDOUT:
        return
    target = real_path(output)
    for source in inputs:
        root = real_path(source)
        if target == root or root in target.parents:
            raise OutputRefused(
                f"refusing to write {shown(output)}: it is inside the input {shown(source)}, and aspectbucket "
                "never writes under an input; choose a path outside it"
            )


def refuse_special(output: Path | str) -> None:
    """Raise :class:`OutputRefused` when ``output`` exists and is not a regular file (a device, a FIFO,
    a folder): renaming a file over ``/dev/null`` would replace the device itself."""
    if os.fspath(output) == STDOUT:
        return
    try:
        status = os.stat(output)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as error:
        raise OutputRefused(f"cannot write {shown(output)}: {error.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "a device, pipe or socket"
        raise OutputRefused(
            f"refusing to write {shown(output)}: it is {kind}, not a regular file (give '-' for standard output)"
        )


@contextlib.contextmanager
def atomic_open(
    path: Path | str,
    mode: str = "w",
    newline: str | None = None,
    *,
    errors: str = "strict",
    inputs: Iterable[Path | str] = (),
) -> Iterator:
    """Open ``path`` for writing (``"w"`` text as UTF-8 with ``errors``, or ``"wb"``); it appears only
    on success.

    ``"-"`` is standard output (written through, not closed). Raises :class:`OutputRefused` before
    writing anything when ``path`` lies under one of ``inputs`` or is a special file.
    """
    if os.fspath(path) == STDOUT:
        yield _stdout(mode, newline, errors)
        return
    path = Path(path).expanduser()
    refuse_inside(path, inputs)
    refuse_special(path)
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": newline, "errors": errors}
        with os.fdopen(handle, mode, **text) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_file(path: Path | str, data: bytes, *, inputs: Iterable[Path | str] = ()) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_open`."""
    with atomic_open(path, "wb", inputs=inputs) as stream:
        stream.write(data)


def _stdout(mode: str, newline: str | None, errors: str = "strict"):
    """Standard output as a stream the caller may write to but not close."""
    buffer = sys.stdout.buffer
    if "b" in mode:
        return _Unclosed(buffer)
    sys.stdout.flush()
    return io.TextIOWrapper(_Unclosed(buffer), encoding="utf-8", errors=errors, newline=newline, write_through=True)


class _Unclosed(io.RawIOBase):
    """A binary stream that passes writes on and leaves the stream under it open when closed."""

    def __init__(self, inner):
        self.inner = inner

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        self.inner.flush()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BY_DESCRIPTOR = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd and bool(_NO_FOLLOW)


class OutputTree:
    """An output folder for one run: refused under an input, locked against a second run, and written
    file by file without ever following a symlink found inside it.

    ``inputs`` are the folders and files the run reads; a file whose folder lies under one of them (the
    output folder may hold the dataset) is refused too. Use as a context manager, or call :meth:`close`.
    ``locked=False`` is for a run's other processes (Ray workers of ``export --engine ray``) whose
    driver holds the lock: the same guards, no lock of their own.
    """

    def __init__(self, root: Path | str, inputs: Iterable[Path | str] = (), *, locked: bool = True):
        self.root = Path(root).expanduser()
        self.inputs = list(inputs)
        refuse_inside(self.root, self.inputs)
        if self.root.exists() and not self.root.is_dir():
            raise OutputRefused(f"refusing to write into {shown(self.root)}: it exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.real = real_path(self.root)
        self._input_roots = {real_path(source) for source in self.inputs}
        self._safe_folders: set[str] = set()
        self._descriptor = os.open(self.root, os.O_RDONLY | _DIRECTORY)
        try:
            if locked:
                _lock(self._descriptor, self.root)
        except BaseException:
            os.close(self._descriptor)
            raise

    def __enter__(self) -> OutputTree:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def write(self, relative: str, data: bytes | Iterable[bytes]) -> None:
        """Write ``data`` to ``root / relative`` atomically (temporary name, fsync, rename).

        Raises :class:`OutputRefused` when a folder on the way is a symlink, or the file's folder lies
        under an input; ``OSError`` when the file system refuses (full disk, a name too long).
        """
        folder, name = self._open_folder(relative)
        temporary = f".{os.getpid()}-{next(_counter)}{TEMP_SUFFIX}"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
            handle = (
                os.open(temporary, flags, 0o666, dir_fd=folder)
                if _BY_DESCRIPTOR
                else os.open(os.path.join(folder, temporary), flags, 0o666)
            )
            try:
                with os.fdopen(handle, "wb", closefd=False) as stream:
                    for chunk in [data] if isinstance(data, bytes) else data:
                        stream.write(chunk)
                    stream.flush()
                    os.fsync(handle)
            finally:
                os.close(handle)
            if _BY_DESCRIPTOR:
                os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            else:
                os.replace(os.path.join(folder, temporary), os.path.join(folder, name))
        except BaseException:
            with contextlib.suppress(OSError):
                if _BY_DESCRIPTOR:
                    os.unlink(temporary, dir_fd=folder)
                else:
                    os.unlink(os.path.join(folder, temporary))
            raise
        finally:
            if _BY_DESCRIPTOR:
                os.close(folder)

    def size(self, relative: str) -> int | None:
        """The byte size of the regular file at ``root / relative`` reached without symlinks, else None."""
        try:
            status = os.lstat(self.root / relative)
            if not stat.S_ISREG(status.st_mode) or any(
                (self.root / parent).is_symlink() for parent in Path(relative).parents if str(parent) != "."
            ):
                return None
        except OSError:
            return None
        return status.st_size

    def remove_temporaries(self, relatives: Iterable[str]) -> int:
        """Delete temporary files a killed run left in the folders of ``relatives`` and the root; the
        lock guarantees no other run is writing them. Returns how many were removed."""
        folders = {Path(relative).parent for relative in relatives} | {Path(".")}
        removed = 0
        for folder in folders:
            path = self.root / folder
            with contextlib.suppress(OSError):  # a folder that cannot be listed (a path too long) has none
                if any((self.root / part).is_symlink() for part in [folder, *folder.parents] if str(part) != "."):
                    continue
                for leftover in path.glob(f".*{TEMP_SUFFIX}"):
                    leftover.unlink()
                    removed += 1
        return removed

    def _open_folder(self, relative: str):
        """``(folder, name)``: the folder of ``relative`` (a descriptor, or a path where descriptors
        cannot be used), made as needed without following symlinks, and the file's name."""
        parts = Path(relative).parts
        if not parts or any(part in ("..", "") for part in parts) or Path(relative).is_absolute():
            raise OutputRefused(f"refusing to write {shown(relative)}: not a plain path inside the output folder")
        *folders, name = parts
        self._refuse_input_folder(folders)
        if not _BY_DESCRIPTOR:
            path = self.root
            for part in folders:
                path = path / part
                if path.is_symlink():
                    raise _symlink_refusal(self.root, folders, part)
                path.mkdir(exist_ok=True)
            return str(path), name
        descriptor = os.dup(self._descriptor)
        try:
            for part in folders:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=descriptor)
                try:
                    inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NO_FOLLOW, dir_fd=descriptor)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise _symlink_refusal(self.root, folders, part) from None
                    raise
                os.close(descriptor)
                descriptor = inner
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor, name

    def _refuse_input_folder(self, folders: list[str]) -> None:
        key = "/".join(folders)
        if key in self._safe_folders:
            return
        place = self.real.joinpath(*folders)
        for folder in (place, *place.parents):
            if folder in self._input_roots:
                raise OutputRefused(f"refusing to write into {shown(place)}: it lies under the input {shown(folder)}")
        self._safe_folders.add(key)


def _symlink_refusal(root: Path, folders: list[str], part: str) -> OutputRefused:
    where = root.joinpath(*folders[: folders.index(part) + 1])
    return OutputRefused(f"{shown(where)} is a symlink or not a folder; aspectbucket does not write through it")


def _lock(descriptor: int, root: Path) -> None:
    """Take the output folder's lock (an advisory ``flock`` on the folder itself, released when the
    descriptor closes, even by a killed process); refuse when another run holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks on folders; one run at a time is the user's to keep
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputRefused(
            f"another aspectbucket run is writing into {shown(root)}; wait for it to finish or choose another folder"
        ) from None
    except OSError:  # a file system without locks: carry on unlocked
        return
