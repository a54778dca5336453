r"""The tables stage: placement columns added to size tables (CSV, JSONL, Parquet), streamed as Arrow batches.

A table in, the same table with its placement out (any format to any format), and optionally one
Parquet folder per bucket with a manifest. The columns added are :data:`PIXEL_COLUMNS` unless
``columns`` names others (``["all"]``: also ``ar_error``, ``crop_ltrb``, ``lost_fraction``, ``upscaled``):

>>> import io, json
>>> from pathlib import Path
>>> from aspectbucket import BucketOptions
>>> from aspectbucket.profiles import resolve
>>> from aspectbucket.tables import TableFormat, assign_table
>>> profile, options, _ = resolve("kohya", BucketOptions((1024, 1024)))
>>> metadata = io.BytesIO(b"key,width,height\na,576,768\nb,4000,3000\nc,0,10\n")
>>> placed = io.BytesIO()
>>> result = assign_table(metadata, placed, options, profile, TableFormat.CSV, TableFormat.JSONL,
...                       split_folder=Path("by-bucket"), batch_size=2)
>>> result.rows, result.errors
(3, 1)
>>> first = json.loads(placed.getvalue().splitlines()[0])
>>> list(first)[3:]
['bucket_width', 'bucket_height', 'resized_width', 'resized_height', 'crop_left', 'crop_top', 'error']
>>> first["key"], first["bucket_width"], first["bucket_height"], first["crop_top"]
('a', 768, 1024, 0)
>>> everything = io.BytesIO()
>>> _ = assign_table(io.BytesIO(metadata.getvalue()), everything, options, profile, TableFormat.CSV, TableFormat.JSONL,
...                  columns=["all"])
>>> json.loads(everything.getvalue().splitlines()[0])["crop_ltrb"]
[0.0, 0.0, 768.0, 1024.0]
>>> result.manifest["steps_per_epoch"], [bucket["bucket"] for bucket in result.manifest["buckets"]]
(2, ['768x1024', '1024x768'])
>>> sorted(path.name for path in Path("by-bucket").iterdir())
['_manifest.json', 'bucket=1024x768', 'bucket=768x1024', 'bucket=unplaced']
"""

from aspectbucket.tables.assign import PLACEMENT_SCHEMA, AssignResult, assign_table, placement_batch
from aspectbucket.tables.columns import PIXEL_COLUMNS, PLACEMENT_COLUMNS, placement_arrays, placement_columns
from aspectbucket.tables.formats import TableError, TableFormat, guess_format
from aspectbucket.tables.sizes import SizeColumns

__all__ = [
    "PIXEL_COLUMNS",
    "PLACEMENT_COLUMNS",
    "PLACEMENT_SCHEMA",
    "AssignResult",
    "SizeColumns",
    "TableError",
    "TableFormat",
    "assign_table",
    "guess_format",
    "placement_arrays",
    "placement_batch",
    "placement_columns",
]
