"""Running an export: pixels out on a thread pool, each file atomic, a journal that lets a killed run resume.

Every output (image or caption) goes through :class:`aspectbucket.outputs.OutputTree`: a hidden
temporary name in its own folder, renamed when complete (so a reader never sees half a file), reached
without following any symlink inside the output folder, never under an input, one run per folder at a
time. As each image finishes, its metadata line is
appended to the journal (the metadata JSONL); a second run skips an image whose journal line matches
its plan and whose output still has the recorded byte size, and redoes the rest. A full disk or a
refused write stops the run with :class:`ExportAborted`, after removing its temporary files; an
unreadable or corrupt source, an unreadable caption, an output name too long for the file system or an
output folder that is a symlink is a per-image failure and the run goes on.
"""

from __future__ import annotations

import errno
import io
import json
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from aspectbucket.export.pixels import open_image, precrop_pixels, train_pixels
from aspectbucket.export.plan import ExportItem, ExportMode, ExportSettings, ItemError
from aspectbucket.outputs import (
    TEMP_SUFFIX,
    OutputRefused,
    OutputTree,
    atomic_open,
    real_path,
    refuse_inside,
    refuse_special,
    shown,
    write_file,
)
from aspectbucket.progress import progress_bar

#: Default journal name inside the output folder.
METADATA_NAME = "aspectbucket-export.jsonl"

#: The journal's reason for an image a stopped run did not reach.
NOT_EXPORTED = "not exported: the run stopped first"

__all__ = ["METADATA_NAME", "NOT_EXPORTED", "TEMP_SUFFIX", "ExportAborted", "ExportSummary", "run_export"]

#: Write errors that concern one file's name or place, not the disk: that image fails, the run goes on.
_PER_FILE_ERRNOS = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST}

_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}


class ExportAborted(RuntimeError):
    """The run stopped (disk full, permission denied); finished outputs stay, nothing half-written does."""


@dataclass
class ExportSummary:
    """What a run did: counts of written, skipped (already done) and failed images, failures by reason."""

    written: int = 0
    skipped: int = 0
    failed: Counter = field(default_factory=Counter)
    records: list[dict] = field(default_factory=list)

    @property
    def failed_count(self) -> int:
        return sum(self.failed.values())


def encode_image(image: Image.Image, output_format: str, quality: int) -> bytes:
    """The file bytes of ``image`` in ``output_format``; ICC profile and EXIF kept (not in BMP), less
    an orientation tag outside 1..8 (see :func:`valid_exif`)."""
    options = {}
    for key in ("icc_profile", "exif"):
        if image.info.get(key) and output_format != "bmp":
            options[key] = image.info[key]
    if "exif" in options:
        options["exif"] = valid_exif(options["exif"])
    if output_format == "jpg":
        if image.mode != "RGB":
            image = image.convert("RGB")
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif output_format == "webp":
        options.update(quality=quality, lossless=quality == 100, method=4)
    elif output_format == "png":
        options.update(compress_level=4)
    elif output_format == "bmp" and image.mode == "RGBA":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=_PIL_FORMATS[output_format], **options)
    return buffer.getvalue()


def valid_exif(data: bytes) -> bytes:
    """EXIF data without an orientation tag outside 1..8 (0, 9, 255...): readers take such a value as 1
    (so does the scan), and an exported file must not carry a value other programs may act on
    differently. Data Pillow cannot parse is kept as it came."""
    exif = Image.Exif()
    try:
        exif.load(data)
        orientation = exif.get(0x0112)
        if orientation is None or (isinstance(orientation, int) and 1 <= orientation <= 8):
            return data
        del exif[0x0112]
        return exif.tobytes()
    except (SyntaxError, ValueError, TypeError, KeyError, OSError, struct.error):  # damaged EXIF
        return data


def export_pixels(item: ExportItem, settings: ExportSettings) -> Image.Image:
    """Decode ``item.source`` and cut its exported pixels; raises Pillow's or the OS's error on bad files."""
    with Image.open(item.source) as header:
        if header.size != item.stored_size:
            raise ItemFailure(ItemError.SIZE_CHANGED)
    if settings.mode is ExportMode.PRECROP:
        image = open_image(item.source, settings.apply_exif, orientation=item.orientation)
        return precrop_pixels(image, item.crop_box)
    image = open_image(item.source, settings.apply_exif, item.resized_size, orientation=item.orientation)
    return train_pixels(image, item.resized_size, item.bucket, item.trim)


class ItemFailure(Exception):
    """One image could not be exported, for ``reason``; the run goes on."""

    def __init__(self, reason: ItemError):
        super().__init__(reason.value)
        self.reason = reason


def job_signature(item: ExportItem, settings: ExportSettings) -> dict:
    """What must match for an earlier output to count as this one: geometry, encoding, source file."""
    try:
        status = item.source.stat()
        source_state = [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]
    except OSError:
        source_state = None
    return {
        "source_state": source_state,
        "mode": settings.mode.value,
        "apply_exif": settings.apply_exif,
        "quality": settings.quality,
    }


def read_journal(path: Path) -> dict[str, dict]:
    """Earlier records by output path; unreadable or partial lines (a killed write) are ignored."""
    records = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("output"):
            records[record["output"]] = record
    return records


def is_finished(item: ExportItem, record: dict | None, tree: OutputTree, signature: dict) -> bool:
    """True when ``record`` describes this very item (its source's size, mtime, ctime and inode
    included: a same-size replacement with its mtime restored still changes the ctime) and its outputs
    exist with the recorded sizes."""
    if record is None or record.get("job") != signature:
        return False
    described = {key: value for key, value in record.items() if key not in ("output_bytes", "job")}
    if described != item.record():
        return False
    return tree.size(item.output) == record.get("output_bytes") and all(
        tree.size(name) is not None for _, name in item.captions
    )


def export_one(item: ExportItem, settings: ExportSettings, tree: OutputTree) -> int:
    """Write one image and its captions; returns the image's byte count. Raises :class:`ItemFailure`
    for this image alone, ``OSError`` for what stops the run (a full disk)."""
    captions = []
    for sidecar, name in item.captions:
        try:
            captions.append((name, sidecar.read_bytes()))
        except OSError:
            raise ItemFailure(ItemError.CAPTION_UNREADABLE) from None
    try:
        pixels = export_pixels(item, settings)
    except Image.DecompressionBombError:
        raise ItemFailure(ItemError.TOO_LARGE_TO_DECODE) from None
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError):
        raise ItemFailure(ItemError.CORRUPT) from None
    except OSError as error:
        is_read_error = error.errno is not None
        raise ItemFailure(ItemError.UNREADABLE if is_read_error else ItemError.CORRUPT) from None
    try:
        data = encode_image(pixels, item.output_format, settings.quality)
    except (OSError, ValueError, KeyError):  # Pillow's way of refusing a mode or format for one image
        raise ItemFailure(ItemError.CANNOT_ENCODE) from None
    try:
        tree.write(item.output, data)
        for name, text in captions:
            tree.write(name, text)
    except OutputRefused:
        raise ItemFailure(ItemError.UNSAFE_OUTPUT) from None
    except OSError as error:
        if error.errno in _PER_FILE_ERRNOS:
            raise ItemFailure(ItemError.BAD_OUTPUT_NAME) from None
        raise
    return len(data)


class ThreadRunner:
    """The local engine: images exported on ``jobs`` threads of this process (default: one per core)."""

    def __init__(self, jobs: int | None = None):
        self.jobs = jobs

    @contextmanager
    def pool(self, settings: ExportSettings, tree: OutputTree) -> Iterator[tuple[Submit, int]]:
        """``(submit, workers)``: ``submit(item)`` starts one image's export and returns its future (the
        image's byte count, or :class:`ItemFailure`, or the fatal ``OSError``); leaving waits for all."""
        workers = max(1, self.jobs or os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield (lambda item: pool.submit(export_one, item, settings, tree)), workers


#: Starts one image's export; its future gives the image's byte count.
Submit = Callable[[ExportItem], Future]


def run_export(
    items: list[ExportItem],
    settings: ExportSettings,
    out_dir: Path,
    *,
    metadata: Path | None = None,
    jobs: int | None = None,
    progress: bool = False,
    inputs: Iterable[Path | str] = (),
    runner: ThreadRunner | None = None,
) -> ExportSummary:
    """Export every item not already finished; returns the summary, or raises :class:`ExportAborted`.

    ``runner`` decodes, resizes, crops and encodes the images: a :class:`ThreadRunner` of ``jobs``
    threads by default, or :class:`aspectbucket.export.ray_run.RayRunner` (workers of a Ray cluster
    writing into ``out_dir``); this process keeps the lock, the journal and the summary either way.

    ``metadata`` is the journal JSONL (default ``out_dir / METADATA_NAME``); it is rewritten in plan
    order at the end with one line per image, failures included. ``inputs`` are the folders and files
    the export reads besides the items' own folders (see :func:`aspectbucket.export.plan.export_inputs`):
    nothing is written under any of them. Raises :class:`aspectbucket.outputs.OutputRefused` before
    writing anything when the output folder or the journal is refused, or another run holds the folder.
    """
    out_dir = Path(out_dir)
    inputs = [*inputs, *{item.source.parent for item in items}]
    metadata = Path(metadata) if metadata else out_dir / METADATA_NAME
    refuse_inside(metadata, inputs)
    refuse_special(metadata)
    refuse_overlap(metadata, items, out_dir, "the metadata file")
    with OutputTree(out_dir, inputs) as tree:
        return _run_locked(items, settings, tree, metadata, runner or ThreadRunner(jobs), progress)


def refuse_overlap(path: Path, items: list[ExportItem], out_dir: Path, what: str, *others: Path) -> None:
    """Refuse ``path`` (a metadata file) when it is the path of an exported image or caption, or of
    one of ``others`` (the journal): writing it would replace that file."""
    target = real_path(path)
    root = real_path(out_dir)
    taken = {root / name for item in items if item.output for name in (item.output, *(n for _, n in item.captions))}
    if target in taken or target in {real_path(other) for other in others if other is not None}:
        raise OutputRefused(f"refusing to write {what} {shown(path)}: an exported file has that path")


def _run_locked(items, settings, tree: OutputTree, metadata: Path, runner, progress) -> ExportSummary:
    tree.remove_temporaries(item.output for item in items if item.output)
    earlier = read_journal(metadata)
    summary = ExportSummary()
    done: dict[int, dict] = {}
    pending = []
    for index, item in enumerate(items):
        if item.error:
            summary.failed[item.error] += 1
            continue
        signature = job_signature(item, settings)
        record = earlier.get(item.output)
        if is_finished(item, record, tree, signature):
            done[index] = record
            summary.skipped += 1
        else:
            pending.append((index, item, signature))
    try:
        with _open_journal(metadata) as journal, progress_bar("exporting", len(pending), progress) as advance:
            _run_pending(pending, settings, tree, runner, journal, done, summary, advance)
    except OSError as error:
        tree.remove_temporaries(item.output for item in items if item.output)
        with suppress(OSError):  # the appended journal already lets the next run resume
            _finish_journal(metadata, _final_records(items, done))
        raise ExportAborted(_abort_message(error)) from None
    summary.records = _final_records(items, done)
    _finish_journal(metadata, summary.records)
    return summary


def _open_journal(metadata: Path):
    """The journal opened for appending; a symlink in its place is not followed."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(metadata, flags, 0o666), "a", encoding="utf-8")


def _run_pending(pending, settings, tree, runner, journal, done, summary, advance) -> None:
    """Keep a few images per worker in flight; journal each as it finishes; stop at the first fatal error."""
    if not pending:
        return  # everything was done already: no pool (nor Ray cluster) to start
    queue = iter(pending)
    in_flight: dict[Future, tuple[int, ExportItem, dict]] = {}
    with runner.pool(settings, tree) as (submit, workers):
        try:
            while True:
                for job in queue:
                    in_flight[submit(job[1])] = job
                    if len(in_flight) >= 2 * workers:
                        break
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    index, item, signature = in_flight.pop(future)
                    try:
                        size = future.result()
                    except ItemFailure as failure:
                        summary.failed[failure.reason.value] += 1
                        done[index] = _failure_record(item, failure.reason.value)
                    else:
                        record = {**item.record(), "output_bytes": size, "job": signature}
                        journal.write(json.dumps(record) + "\n")
                        journal.flush()
                        done[index] = record
                        summary.written += 1
                    advance()
        finally:
            for future in in_flight:
                future.cancel()


def _failure_record(item: ExportItem, reason: str) -> dict:
    return {"source": str(item.source), "relative": item.relative, "error": reason}


def _final_records(items: list[ExportItem], done: dict[int, dict]) -> list[dict]:
    """One line per image in plan order: finished, failed, or (after an abort) not yet exported."""
    return [
        done.get(index) or (item.record() if item.error else _failure_record(item, NOT_EXPORTED))
        for index, item in enumerate(items)
    ]


def _finish_journal(metadata: Path, records: list[dict]) -> None:
    with atomic_open(metadata, "wb") as stream:
        stream.write("".join(json.dumps(record) + "\n" for record in records).encode())


def _abort_message(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"export stopped: the disk is full{where}; finished images are kept, run again to resume"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"export stopped: no permission to write{where}; finished images are kept"
    return f"export stopped: cannot write{where}: {error.strerror or error}"


def kohya_metadata(records: list[dict], out_dir: Path) -> dict[str, dict]:
    """sd-scripts fine-tuning metadata for the exported images: ``{key: {"caption", "train_resolution"}}``.

    Keys are what ``finetune/merge_captions_to_metadata.py`` writes: the file name without its
    extension when every output lies directly in ``out_dir`` with a unique name, else (as with its
    ``--full_path``) the full path of the output. ``train_resolution`` is the bucket rounded down to
    a multiple of 8, as ``prepare_buckets_latents.py`` records it; the caption is the first sidecar
    (the subset's ``caption_extension``, then ``.caption``, then ``.txt``).
    """
    exported = [record for record in records if record.get("output")]
    stems = [Path(record["output"]).stem for record in exported]
    flat = all("/" not in record["output"] for record in exported) and len(set(stems)) == len(stems)
    metadata = {}
    for record, stem in zip(exported, stems, strict=True):
        key = stem if flat else str(real_path(Path(out_dir) / record["output"]))
        entry = {"train_resolution": record["train_resolution"]}
        if record["captions"]:
            caption_file = Path(out_dir) / record["captions"][0]
            with suppress(OSError, UnicodeDecodeError):
                entry["caption"] = caption_file.read_text(encoding="utf-8").strip()
        metadata[key] = entry
    return metadata


def write_kohya_metadata(path: Path, records: list[dict], out_dir: Path, inputs: Iterable[Path | str] = ()) -> None:
    """Write :func:`kohya_metadata` as indented JSON, atomically (``-``: standard output), never under
    one of ``inputs``."""
    text = json.dumps(kohya_metadata(records, out_dir), indent=2, ensure_ascii=False)
    write_file(path, text.encode("utf-8"), inputs=inputs)
