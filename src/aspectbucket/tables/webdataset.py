"""WebDataset tar shards as a size table: each image member's size read from its header bytes.

A WebDataset is a folder of ``.tar`` shards whose members are grouped into samples by key (the
member's path up to the first dot of its name: ``000123.jpg`` and ``000123.json`` are sample
``000123``). Each shard is read as a stream, member by member, so a shard on a pipe or a slow disk is
read once, front to back; no pixel is decoded: the size (and EXIF orientation) comes from the image
header, as a folder scan reads it (:func:`aspectbucket.scan.headers.read_header_bytes`). Where the
profile's trainer applies EXIF orientation, a rotated image's sides are swapped, as it would see them.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pyarrow as arrow

from aspectbucket.scan.headers import Header, is_image_name, read_header_bytes
from aspectbucket.tables.formats import TableError
from aspectbucket.tables.readers import BATCH_ROWS, ReadBatch, TableSource

#: One row per image member: its sample key, shard (relative to the source), member name and size.
TAR_SCHEMA = arrow.schema(
    [
        ("key", arrow.string()),
        ("shard", arrow.string()),
        ("member", arrow.string()),
        ("width", arrow.int64()),
        ("height", arrow.int64()),
        ("orientation", arrow.int8()),
    ]
)


def tar_shards(source: Path) -> list[Path]:
    """The ``.tar`` shards of a folder in path order (or the one shard)."""
    if source.is_dir():
        return sorted(path for path in source.rglob("*.tar") if path.is_file() and not path.name.startswith("."))
    return [source]


def open_tar_shards(source: Path, upright: bool = False) -> TableSource:
    """Every image member of every shard under ``source`` as one table of :data:`TAR_SCHEMA`.

    ``upright`` swaps the sides of images whose EXIF orientation turns them (5 to 8). A member
    whose header cannot be read keeps its row with the reason; a shard that cannot be read further
    stops there with a warning and the next one goes on.
    """
    shards = tar_shards(source)
    if not shards:
        raise TableError(f"{source} holds no .tar shards")
    warnings: list[str] = []
    base = source if source.is_dir() else source.parent

    def batches() -> Iterator[ReadBatch]:
        rows = _Rows()
        for shard in shards:
            name = shard.relative_to(base).as_posix()
            for member, header in tar_image_headers(shard, name, warnings):
                rows.add(name, member, header, upright)
                if len(rows) == BATCH_ROWS:
                    yield rows.batch()
                    rows = _Rows()
        if len(rows):
            yield rows.batch()

    return TableSource(TAR_SCHEMA, batches(), warnings)


def read_tar_shard(shard: Path, name: str, upright: bool = False) -> tuple[ReadBatch | None, list[str]]:
    """One shard's image members as one batch of :data:`TAR_SCHEMA` (None when it holds none) and its
    warnings: the unit of work a Ray task reads (``report --engine ray``), rows as :func:`open_tar_shards`
    gives them."""
    warnings: list[str] = []
    rows = _Rows()
    for member, header in tar_image_headers(shard, name, warnings):
        rows.add(name, member, header, upright)
    return (rows.batch() if len(rows) else None), warnings


def tar_image_headers(shard: Path, name: str, warnings: list[str]) -> Iterator[tuple[str, Header]]:
    """``(member, header)`` of each image member of ``shard``, read as a stream; a shard that cannot be
    read further stops with a warning (named ``name``) appended to ``warnings``."""
    try:
        with tarfile.open(shard, mode="r|*") as archive:
            for member in archive:
                if member.isfile() and is_image_name(PurePosixPath(member.name).name):
                    yield member.name, read_header_bytes(archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as error:
        warnings.append(f"stopped reading {name}: {' '.join(str(error).split()) or type(error).__name__}")


class _Rows:
    """Columns of the rows read so far, as Python lists."""

    def __init__(self):
        self.columns: list[list] = [[] for _ in TAR_SCHEMA]
        self.errors: list[str] = []

    def __len__(self) -> int:
        return len(self.errors)

    def add(self, shard: str, member: str, header, upright: bool) -> None:
        path = PurePosixPath(member)
        key = str(path.parent / path.name.split(".", 1)[0]) if str(path.parent) != "." else path.name.split(".", 1)[0]
        width, height = header.width, header.height
        if upright and header.orientation >= 5:
            width, height = height, width
        for column, value in zip(self.columns, (key, shard, member, width, height, header.orientation), strict=True):
            column.append(value)
        self.errors.append(header.reason)

    def batch(self) -> ReadBatch:
        arrays = [arrow.array(column, entry.type) for column, entry in zip(self.columns, TAR_SCHEMA, strict=True)]
        batch = arrow.RecordBatch.from_arrays(arrays, schema=TAR_SCHEMA)
        return ReadBatch(batch, self.errors if any(self.errors) else None)
