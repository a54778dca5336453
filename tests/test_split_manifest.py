"""``--split-by-bucket``'s manifest: every bucket's sample keys streamed to its ``_keys.txt``, and steps per epoch
from the epoch ledger under the profile's trainer's own batching rule."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.cli import main
from aspectbucket.geometry.ledger import BatchingRule, BatchSettings, bucket_epoch, count_epoch
from aspectbucket.tables.split import KEYS, BucketSplitter, bucket_manifest


@settings(max_examples=150, deadline=None)
@given(
    buckets=st.lists(st.integers(-1, 6), max_size=60),
    rule=st.sampled_from(list(BatchingRule)),
    batch=st.integers(1, 5),
    processes=st.integers(1, 3),
    accumulation=st.integers(1, 3),
)
def test_bucket_epoch_counts_what_count_epoch_counts_per_image(buckets, rule, batch, processes, accumulation):
    """Differential: the per-bucket entry point against the per-image ledger, each image trained once."""
    image_bucket = np.array(buckets, dtype=np.int64)
    repeats = 0 if rule is BatchingRule.SIMPLETUNER else 1
    batching = BatchSettings(batch, processes, accumulation)
    whole = count_epoch(image_bucket, repeats, rule, batching, bucket_count=7)
    placed = image_bucket[image_bucket >= 0]
    images = np.bincount(placed, minlength=7)
    batches, steps, optimizer, refused = bucket_epoch(images, images, rule, batching)
    assert refused == whole.refused
    assert (steps, optimizer) == (whole.steps_per_epoch, whole.optimizer_steps_per_epoch)
    assert batches.tolist() == whole.batches.tolist()


def test_manifest_steps_follow_the_trainers_batching():
    counts = {"512x512": 5, "640x384": 3, "unplaced": 2}
    kohya = bucket_manifest(counts, 2, "kohya")
    assert (kohya["batching"], kohya["steps_per_epoch"]) == ("kohya", 5)  # short last batches kept
    assert [bucket["steps_per_epoch"] for bucket in kohya["buckets"]] == [3, 2]
    onetrainer = bucket_manifest(counts, 2, "onetrainer")
    assert onetrainer["steps_per_epoch"] == 3  # each bucket's remainder dropped
    refused = bucket_manifest({"512x512": 5, "640x384": 1}, 2, "simpletuner")
    assert refused["steps_per_epoch"] == 0 and "refused" in refused and refused["unplaced"] == 0


def _placed(rows: int, start: int, **columns) -> arrow.RecordBatch:
    """A placed batch: rows alternate between two buckets, every fifth unplaced."""
    index = np.arange(start, start + rows)
    error = np.where(index % 5 == 4, "no bucket", "")
    width = np.where(index % 2 == 0, 512, 640)
    return arrow.RecordBatch.from_pydict(
        {**columns, "bucket_width": width, "bucket_height": np.full(rows, 512), "error": error}
    )


def test_keys_are_row_numbers_across_batches_without_a_key_column(tmp_path):
    splitter = BucketSplitter(tmp_path / "split", _placed(1, 0).schema)
    for start, rows in ((0, 7), (7, 6)):
        splitter.write(_placed(rows, start))
    manifest = splitter.close(batch_size=2)
    assert manifest["keys_from"] == "row" and manifest["unplaced_keys"] == f"bucket=unplaced/{KEYS}"
    expected = {
        "512x512": [i for i in range(13) if i % 2 == 0 and i % 5 != 4],
        "640x512": [i for i in range(13) if i % 2 == 1 and i % 5 != 4],
        "unplaced": [4, 9],
    }
    for name, rows in expected.items():
        lines = (tmp_path / "split" / f"bucket={name}" / KEYS).read_text().splitlines()
        assert lines == [str(row) for row in rows]
    by_name = {bucket["bucket"]: bucket for bucket in manifest["buckets"]}
    assert by_name["512x512"]["samples"] == len(expected["512x512"]) == 6
    assert (tmp_path / "split" / by_name["640x512"]["keys"]).exists()


def test_keys_prefer_key_then_url_and_stay_one_line_each(tmp_path):
    urls = ["https://a/0", "https://a/1", None, "https://a/3"]
    only_url = BucketSplitter(tmp_path / "url", _placed(4, 0, url=urls).schema)
    only_url.write(_placed(4, 0, url=urls))
    assert only_url.close()["keys_from"] == "url"
    assert (tmp_path / "url" / "bucket=512x512" / KEYS).read_text() == "https://a/0\n\n"  # a null key: empty
    keys = ["k0", "line\nbreak", "k2", "k3"]
    both = BucketSplitter(tmp_path / "key", _placed(4, 0, url=urls, key=keys).schema)
    both.write(_placed(4, 0, url=urls, key=keys))
    assert both.close()["keys_from"] == "key"
    assert (tmp_path / "key" / "bucket=640x512" / KEYS).read_text() == "line\\nbreak\nk3\n"


def test_byte_keys_are_text_when_utf8_else_base64_and_unusable_keys_give_way(tmp_path):
    """A binary key column (not UTF-8 in one row) keys every row; a list-typed ``key`` is passed over for ``url``."""
    keys = arrow.array([b"k\xff", b"plain", None, b"\x00\x01"], arrow.binary())
    splitter = BucketSplitter(tmp_path / "bytes", _placed(4, 0, key=keys).schema)
    splitter.write(_placed(4, 0, key=keys))
    assert splitter.close()["keys_from"] == "key"
    assert (tmp_path / "bytes" / "bucket=512x512" / KEYS).read_text() == "a/8=\n\n"
    assert (tmp_path / "bytes" / "bucket=640x512" / KEYS).read_text() == "plain\n\x00\x01\n"
    listed = _placed(4, 0, key=[[1], [2], [3], [4]], url=["u0", "u1", "u2", "u3"])
    splitter = BucketSplitter(tmp_path / "lists", listed.schema)
    splitter.write(listed)
    assert splitter.close()["keys_from"] == "url"


def test_assign_splits_a_table_with_binary_keys_in_one_run(tmp_path):
    table = arrow.table(
        {"key": arrow.array([b"a\xff", b"b"], arrow.binary()), "width": [512, 900], "height": [512, 300]}
    )
    parquet.write_table(table, tmp_path / "binkey.parquet")
    split = tmp_path / "split"
    result = CliRunner().invoke(
        main, ["assign", "--sizes", str(tmp_path / "binkey.parquet"), "--split-by-bucket", str(split)]
    )
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    keys = sorted(line for path in split.glob(f"*/{KEYS}") for line in path.read_text().splitlines())
    assert keys == ["Yf8=", "b"]


def test_split_of_webdataset_shards_keys_each_sample_by_shard_and_member(tmp_path):
    import io

    from PIL import Image

    folder = tmp_path / "wds"
    folder.mkdir()
    for shard in range(2):
        with tarfile.open(folder / f"{shard:05d}.tar", "w") as archive:
            for sample, size in enumerate([(512, 512), (768, 512)]):
                buffer = io.BytesIO()
                Image.new("RGB", size).save(buffer, format="PNG")
                member = tarfile.TarInfo(f"{sample:03d}.png")  # the same keys in every shard
                member.size = len(buffer.getvalue())
                archive.addfile(member, io.BytesIO(buffer.getvalue()))
    split = tmp_path / "split"
    result = CliRunner().invoke(main, ["assign", "--sizes", str(folder), "--split-by-bucket", str(split)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((split / "_manifest.json").read_text())
    assert manifest["keys_from"] == "shard/member"
    square = next(bucket for bucket in manifest["buckets"] if bucket["width"] == bucket["height"])
    assert (split / square["keys"]).read_text() == "00000.tar/000.png\n00001.tar/000.png\n"
    assert parquet.read_table(split / square["path"]).num_rows == 2  # the keys file is not read as a part


def _bucket_rows(folder, name: str) -> tuple[list[int], list[int]]:
    """A bucket's Parquet rows (their ``index`` column) and the sizes of its row groups."""
    file = parquet.ParquetFile(folder / f"bucket={name}" / "part-00000.parquet")
    groups = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
    return file.read().column("index").to_pylist(), groups


def test_a_buckets_rows_gather_across_batches_into_row_groups_in_input_order(tmp_path, monkeypatch):
    from aspectbucket.tables import split

    monkeypatch.setattr(split, "ROW_GROUP_ROWS", 50)
    splitter = BucketSplitter(tmp_path / "split", _placed(1, 0, index=[0]).schema)
    for start in range(0, 400, 30):
        rows = min(30, 400 - start)
        splitter.write(_placed(rows, start, index=np.arange(start, start + rows)))
    splitter.close()
    rows, groups = _bucket_rows(tmp_path / "split", "512x512")
    assert rows == [i for i in range(400) if i % 2 == 0 and i % 5 != 4]
    # each group gathers the batches' slices (12 rows a batch) until 50 rows have come, not one per batch
    assert groups[:-1] == [60] * (len(groups) - 1) and sum(groups) == len(rows)


def test_rows_waiting_past_the_memory_budget_go_out_largest_bucket_first_still_in_order(tmp_path, monkeypatch):
    from aspectbucket.tables import split

    monkeypatch.setattr(split, "PENDING_BYTES", 600)
    splitter = BucketSplitter(tmp_path / "split", _placed(1, 0, index=[0]).schema)
    for start in range(0, 300, 20):
        splitter.write(_placed(20, start, index=np.arange(start, start + 20)))
        assert splitter._pending_bytes < 600
    manifest = splitter.close()
    for name, keep in (("512x512", 0), ("640x512", 1)):
        rows, groups = _bucket_rows(tmp_path / "split", name)
        assert rows == [i for i in range(300) if i % 2 == keep and i % 5 != 4]
        assert len(groups) > 1  # written before the end, a row group at a time
        lines = (tmp_path / "split" / f"bucket={name}" / KEYS).read_text().splitlines()
        assert lines == [str(row) for row in rows]
    assert manifest["unplaced"] == 60


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.text(alphabet=st.characters(exclude_characters="\n\r"), max_size=8), max_size=40),
    start=st.integers(0, 40),
    large=st.booleans(),
)
def test_key_lines_are_each_text_and_a_line_break(values, start, large):
    from aspectbucket.tables.split import key_lines

    column = arrow.array(values, arrow.large_string() if large else arrow.string()).slice(start)
    assert key_lines(column) == "".join(value + "\n" for value in values[start:]).encode()
