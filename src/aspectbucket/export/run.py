"""Running an export: pixels out on a thread pool, each file atomic, a journal that lets a killed run resume.

Every output (image or caption) is written to a hidden temporary name in its own folder and renamed
when complete, so a reader never sees half a file. As each image finishes, its metadata line is
appended to the journal (the metadata JSONL); a second run skips an image whose journal line matches
its plan and whose output still has the recorded byte size, and redoes the rest. A full disk or a
refused write stops the run with :class:`ExportAborted`, after removing its temporary files; an
unreadable or corrupt source is a per-image failure and the run goes on.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from aspectbucket.export.pixels import open_image, precrop_pixels, train_pixels
from aspectbucket.export.plan import ExportItem, ExportMode, ExportSettings, ItemError
from aspectbucket.progress import progress_bar

#: Default journal name inside the output folder.
METADATA_NAME = "aspectbucket-export.jsonl"

#: The journal's reason for an image a stopped run did not reach.
NOT_EXPORTED = "not exported: the run stopped first"

#: Temporary files end with this, so a later run can find and remove what a killed one left.
TEMP_SUFFIX = ".aspectbucket-part"

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
    """The file bytes of ``image`` in ``output_format``; ICC profile and EXIF kept (not in BMP)."""
    options = {}
    for key in ("icc_profile", "exif"):
        if image.info.get(key) and output_format != "bmp":
            options[key] = image.info[key]
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


def export_pixels(item: ExportItem, settings: ExportSettings) -> Image.Image:
    """Decode ``item.source`` and cut its exported pixels; raises Pillow's or the OS's error on bad files."""
    with Image.open(item.source) as header:
        if header.size != item.stored_size:
            raise _ItemFailure(ItemError.SIZE_CHANGED)
    if settings.mode is ExportMode.PRECROP:
        image = open_image(item.source, settings.apply_exif, orientation=item.orientation)
        return precrop_pixels(image, item.crop_box)
    image = open_image(item.source, settings.apply_exif, item.resized_size, orientation=item.orientation)
    return train_pixels(image, item.resized_size, item.bucket, item.trim)


class _ItemFailure(Exception):
    def __init__(self, reason: ItemError):
        super().__init__(reason.value)
        self.reason = reason


def write_atomic(target: Path, data: bytes | Path) -> None:
    """Write ``data`` (bytes, or a file to copy) to ``target`` via a temporary name and a rename.

    On any error the temporary file is removed and the error raised; ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        if isinstance(data, Path):
            shutil.copyfile(data, temporary)
        else:
            with open(temporary, "wb") as stream:
                stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out_dir: Path, items: list[ExportItem]) -> int:
    """Delete temporary files a killed run left in the folders this export writes; returns how many."""
    folders = {(out_dir / item.output).parent for item in items if item.output} | {out_dir}
    removed = 0
    for folder in folders:
        if folder.is_dir():
            for leftover in folder.glob(f".*{TEMP_SUFFIX}"):
                leftover.unlink(missing_ok=True)
                removed += 1
    return removed


def job_signature(item: ExportItem, settings: ExportSettings) -> dict:
    """What must match for an earlier output to count as this one: geometry, encoding, source file."""
    try:
        status = item.source.stat()
        source_state = [status.st_size, status.st_mtime_ns]
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


def is_finished(item: ExportItem, record: dict | None, out_dir: Path, signature: dict) -> bool:
    """True when ``record`` describes this very item and its outputs exist with the recorded sizes."""
    if record is None or record.get("job") != signature:
        return False
    described = {key: value for key, value in record.items() if key not in ("output_bytes", "job")}
    if described != item.record():
        return False
    try:
        return (out_dir / item.output).stat().st_size == record.get("output_bytes") and all(
            (out_dir / name).is_file() for _, name in item.captions
        )
    except OSError:
        return False


def _export_one(item: ExportItem, settings: ExportSettings, out_dir: Path) -> int:
    """Write one image and its captions; returns the image's byte count."""
    try:
        pixels = export_pixels(item, settings)
    except Image.DecompressionBombError:
        raise _ItemFailure(ItemError.TOO_LARGE_TO_DECODE) from None
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError):
        raise _ItemFailure(ItemError.CORRUPT) from None
    except OSError as error:
        is_read_error = error.errno is not None
        raise _ItemFailure(ItemError.UNREADABLE if is_read_error else ItemError.CORRUPT) from None
    try:
        data = encode_image(pixels, item.output_format, settings.quality)
    except (OSError, ValueError, KeyError):  # Pillow's way of refusing a mode or format for one image
        raise _ItemFailure(ItemError.CANNOT_ENCODE) from None
    write_atomic(out_dir / item.output, data)
    for sidecar, name in item.captions:
        write_atomic(out_dir / name, sidecar)
    return len(data)


def run_export(
    items: list[ExportItem],
    settings: ExportSettings,
    out_dir: Path,
    *,
    metadata: Path | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> ExportSummary:
    """Export every item not already finished; returns the summary, or raises :class:`ExportAborted`.

    ``metadata`` is the journal JSONL (default ``out_dir / METADATA_NAME``); it is rewritten in plan
    order at the end with one line per image, failures included.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = Path(metadata) if metadata else out_dir / METADATA_NAME
    remove_stale_temporaries(out_dir, items)
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
        if is_finished(item, record, out_dir, signature):
            done[index] = record
            summary.skipped += 1
        else:
            pending.append((index, item, signature))
    try:
        with (
            open(metadata, "a", encoding="utf-8") as journal,
            progress_bar("exporting", len(pending), progress) as advance,
        ):
            _run_pending(pending, settings, out_dir, jobs, journal, done, summary, advance)
    except OSError as error:
        remove_stale_temporaries(out_dir, items)
        with suppress(OSError):  # the appended journal already lets the next run resume
            _finish_journal(metadata, _final_records(items, done))
        raise ExportAborted(_abort_message(error)) from None
    summary.records = _final_records(items, done)
    _finish_journal(metadata, summary.records)
    return summary


def _run_pending(pending, settings, out_dir, jobs, journal, done, summary, advance) -> None:
    """Keep a few images per worker in flight; journal each as it finishes; stop at the first fatal error."""
    workers = max(1, jobs or os.cpu_count() or 1)
    queue = iter(pending)
    in_flight: dict[Future, tuple[int, ExportItem, dict]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            while True:
                for job in queue:
                    in_flight[pool.submit(_export_one, job[1], settings, out_dir)] = job
                    if len(in_flight) >= 2 * workers:
                        break
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    index, item, signature = in_flight.pop(future)
                    try:
                        size = future.result()
                    except _ItemFailure as failure:
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
    write_atomic(metadata, "".join(json.dumps(record) + "\n" for record in records).encode())


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
        key = stem if flat else str((Path(out_dir) / record["output"]).resolve())
        entry = {"train_resolution": record["train_resolution"]}
        if record["captions"]:
            caption_file = Path(out_dir) / record["captions"][0]
            with suppress(OSError, UnicodeDecodeError):
                entry["caption"] = caption_file.read_text(encoding="utf-8").strip()
        metadata[key] = entry
    return metadata


def write_kohya_metadata(path: Path, records: list[dict], out_dir: Path) -> None:
    """Write :func:`kohya_metadata` as indented JSON, atomically."""
    text = json.dumps(kohya_metadata(records, out_dir), indent=2, ensure_ascii=False)
    write_atomic(Path(path), text.encode("utf-8"))
