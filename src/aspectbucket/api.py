"""The library in nine verbs, one per stage, each a thin composition of the stage modules.

``place`` and ``bucket_list`` work on sizes alone; ``explain`` tells one size's story; ``scan`` reads a
dataset's sizes; ``plan`` places a dataset; ``report`` writes what a plan means; ``compare`` runs every
trainer on one dataset; ``export`` writes the pixels; ``assign`` adds placement columns to a size table.
The command line calls the same functions, so a Python user gets the same checks (options, output
guards) as a shell user. They are re-exported from :mod:`aspectbucket`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from aspectbucket.compare import Comparison, common_resolution, compare_dataset
from aspectbucket.epoch_ledger import plan_ledger
from aspectbucket.export.plan import ExportSettings, export_inputs, plan_export, source_root
from aspectbucket.export.ray_run import RayRunner
from aspectbucket.export.run import ExportSummary, run_export
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.ledger_fixes import smallest_fixes
from aspectbucket.outputs import atomic_open, real_path, refuse_inside
from aspectbucket.plan import DatasetPlan, plan_dataset
from aspectbucket.profiles import ExifHandling, Profile, get_profile, resolve
from aspectbucket.report.explain import explain_size
from aspectbucket.report.files import write_csv, write_json
from aspectbucket.report.html import write_html
from aspectbucket.report.ledger_section import ledger_csv_columns, ledger_document, ledger_section_html, untrained_count
from aspectbucket.report.sections import HtmlSection
from aspectbucket.report.summary import ReportSummary, display_paths, scan_display_paths, summarize
from aspectbucket.scan import ScanResult, load_dataset
from aspectbucket.scan import scan as scan_source
from aspectbucket.tables import assign_table, guess_format
from aspectbucket.tables.ray_engine import RayCluster


def explain(
    width: int,
    height: int,
    profile: str | Profile = "kohya",
    options: BucketOptions | None = None,
    *,
    settings: Mapping | None = None,
) -> dict:
    """Everything about placing one image: bucket, resize, crop, warnings and the reasons as sentences.

    ``settings`` are the trainer's own (``aspectbucket profiles`` lists them), applied over ``options``.

    >>> facts = explain(768, 512, options=BucketOptions(resolution=(512, 512)))
    >>> facts["bucket_width"], facts["bucket_height"], facts["resized_width"], facts["resized_height"]
    (640, 384, 640, 427)
    >>> explain(1920, 1080, "musubi-tuner", settings={"resolution": "1024,1024", "architecture": "ho1"})["bucket_width"]
    1344
    """
    chosen, validated, _ = resolve(profile, options, settings)
    return explain_size(width, height, validated, chosen)


def scan(source: str | Path, **options) -> ScanResult:
    """Sizes and EXIF orientations of every image of a folder, DreamBooth folder or kohya ``.toml``.

    ``options`` are those of :func:`aspectbucket.scan.scan` (``cache``, ``use_cache``, ``jobs``,
    ``progress``). Unreadable files are rows with a reason, never an exception.

    >>> from aspectbucket.scan import example_dataset_path
    >>> result = scan(example_dataset_path(), use_cache=False)
    >>> len(result), sum(1 for reason in result.error if reason)
    (18, 1)
    """
    return scan_source(Path(source), **options)


def plan(
    source: str | Path | ScanResult,
    profile: str | Profile = "kohya",
    options: dict | None = None,
    *,
    respect_exif: bool = False,
    use_cache: bool = True,
    settings: Mapping | None = None,
) -> DatasetPlan:
    """A dataset placed by a trainer's rules: every image's bucket, resize and crop, per dataset block.

    ``source`` is a path (scanned first) or a :func:`scan` result; ``options`` are bucketing options
    under kohya's names (``{"resolution": (1024, 1024)}``), overriding the dataset config's, which
    override the profile's defaults; ``settings`` (the trainer's own names) apply last.

    >>> from aspectbucket.scan import example_dataset_path
    >>> placed = plan(example_dataset_path(), options={"resolution": (512, 512)}, use_cache=False)
    >>> placed.profile.name, len(placed.placement)
    ('kohya', 18)
    """
    scanned = source if isinstance(source, ScanResult) else scan_source(Path(source), use_cache=use_cache)
    placed = plan_dataset(
        scanned, get_profile(profile), dict(options or {}), respect_exif=respect_exif, settings=settings
    )
    placed.source = None if isinstance(source, ScanResult) else Path(source)
    return placed


def report(
    placed: DatasetPlan,
    *,
    batch_size: int | None = None,
    json: str | Path | None = None,
    csv: str | Path | None = None,
    html: str | Path | None = None,
) -> ReportSummary:
    """What a plan means (bucket table, steps, warnings, advice), written to the files asked for.

    ``batch_size`` overrides the dataset config's. The HTML page is one self-contained file.

    >>> from aspectbucket.scan import example_dataset_path
    >>> summary = report(plan(example_dataset_path(), use_cache=False), batch_size=4)
    >>> summary.steps_per_epoch > 0
    True
    """
    summary = summarize(placed, batch_size)
    if json is None and csv is None and html is None:
        return summary
    # The files carry the epoch ledger, as the command's do.
    book = plan_ledger(placed, batch_size)
    fixes, labels = smallest_fixes(book), display_paths(placed)
    if json is not None:
        ledger_json = ledger_document(book, fixes, labels, image_limit=untrained_count(book))
        write_json(Path(json), placed, summary, extra={"ledger": ledger_json})
    if csv is not None:
        write_csv(Path(csv), placed, summary, extra_columns=ledger_csv_columns(book))
    if html is not None:
        section = HtmlSection("ledger", "Epoch ledger", ledger_section_html(book, fixes, labels))
        write_html(Path(html), placed, summary, sections=[section])
    return summary


def compare(
    source: str | Path | ScanResult,
    profiles: list[str] | None = None,
    options: dict | None = None,
    *,
    batch_size: int | None = None,
    use_cache: bool = True,
    settings: Mapping | None = None,
) -> Comparison:
    """Every profile (or those named) on one dataset: per-trainer summaries and the images they treat most differently.

    Every profile runs at one resolution (``options``', else the dataset config's, else kohya's default)
    and each dataset block at ``batch_size``, else its config's, else 1, as ``aspectbucket compare``
    does; images are named by their path inside the dataset.

    >>> from aspectbucket.scan import example_dataset_path
    >>> result = compare(example_dataset_path(), ["kohya", "onetrainer"], {"resolution": (512, 512)}, use_cache=False)
    >>> [summary.profile for summary in result.summaries]
    ['kohya', 'onetrainer']
    """
    scanned = source if isinstance(source, ScanResult) else scan_source(Path(source), use_cache=use_cache)
    given = common_resolution(scanned, dict(options or {}))
    labels = scan_display_paths(scanned)
    return compare_dataset(scanned, profiles, given, batch_size=batch_size, labels=labels, settings=settings)


def export(
    placed: DatasetPlan,
    out_dir: str | Path,
    *,
    source: str | Path | None = None,
    cluster: RayCluster | None = None,
    **settings,
) -> ExportSummary:
    """Write what the trainer trains on (``mode="train"``) or content-preserving pre-crops (``"precrop"``).

    ``settings`` are :class:`~aspectbucket.export.plan.ExportSettings` fields; ``apply_exif`` follows
    the plan (EXIF is applied when the plan measured images upright) and, in ``train`` mode,
    ``random_crop`` follows the trainer (``Profile.random_crop``). ``source`` is the folder the
    output tree mirrors (default: the folder the plan was read from, else the common folder of the
    dataset's image folders). Outputs in or
    under the dataset, or reached through a symlink the scan follows, are refused
    (:class:`~aspectbucket.outputs.OutputRefused`); a stopped export resumes. With ``cluster``
    (:class:`~aspectbucket.tables.ray_engine.RayCluster`: ``RayCluster("10.0.0.1:6379")``, or
    ``RayCluster(workers=4)`` for a local one) each image is exported by a task on the cluster's workers,
    as ``export --engine ray`` does: the same files, and ``out_dir`` must be on a file system they share.

    >>> import tempfile
    >>> from aspectbucket.scan import example_dataset_path
    >>> placed = plan(example_dataset_path(), options={"resolution": (256, 256)}, use_cache=False)
    >>> done = export(placed, tempfile.mkdtemp(), mode="precrop")
    >>> done.written, dict(done.failed)
    (17, {'truncated: the file ends before its image data does': 1})
    """
    subsets = placed.scan.subsets
    source = placed.source if source is None else source
    measured_upright = placed.respect_exif or placed.profile.exif is ExifHandling.APPLY
    if settings.setdefault("apply_exif", measured_upright) != measured_upright:
        raise ValueError("apply_exif must match the plan: plan with respect_exif=True to export upright pixels")
    origin = Path(source) if source is not None else Path(os.path.commonpath([real_path(s.image_dir) for s in subsets]))
    inputs = export_inputs(None if source is None else Path(source), subsets)
    refuse_inside(Path(out_dir), inputs)
    if settings.get("mode", "train") == "train":
        settings.setdefault("random_crop", placed.profile.random_crop)  # the window where the trainer puts it
    export_settings = ExportSettings(**settings)
    items = plan_export(placed, source_root(origin, subsets), Path(out_dir), export_settings)
    runner = RayRunner(cluster) if cluster is not None else None
    return run_export(items, export_settings, Path(out_dir), inputs=inputs, runner=runner)


def assign(
    sizes: str | Path, output: str | Path, profile: str | Profile = "kohya", options: BucketOptions | None = None
) -> tuple[int, int]:
    """Add placement columns to a table of sizes (CSV, JSONL or Parquet, by extension); ``(rows, errors)``.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sizes.csv").write_text("file,width,height\\na.png,768,512\\n")
    >>> assign(folder / "sizes.csv", folder / "placed.jsonl", options=BucketOptions(resolution=(512, 512)))
    (1, 0)
    """
    chosen, validated, _ = resolve(profile, options)
    sizes, output = Path(sizes), Path(output)
    with sizes.open("rb") as source, atomic_open(output, "wb", inputs=[sizes]) as sink:
        result = assign_table(source, sink, validated, chosen, guess_format(sizes), guess_format(output))
    return result.rows, result.errors


__all__ = ["assign", "compare", "explain", "export", "load_dataset", "plan", "report", "scan"]
