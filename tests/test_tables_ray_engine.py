"""``assign --engine ray``: a real local Ray cluster of 2 workers gives the local engine's output, row for row."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from click.testing import CliRunner

from aspectbucket.cli import main


@pytest.fixture
def shards(tmp_path):
    """Three img2dataset-like shards of different lengths (one column null in the first), and a damaged one."""
    folder = tmp_path / "shards"
    folder.mkdir()
    rng = np.random.default_rng(5)
    start = 0
    for index, rows in enumerate((700, 1, 1300)):
        widths, heights = rng.integers(0, 5000, rows), rng.integers(1, 5000, rows)
        caption = [None] * rows if index == 0 else [f"c{start + i}" for i in range(rows)]
        table = {
            "key": [f"{start + i:06d}" for i in range(rows)],
            "width": widths,
            "height": heights,
            "caption": caption,
        }
        parquet.write_table(arrow.table(table), folder / f"{index:05d}.parquet")
        start += rows
    (folder / "00003.parquet").write_bytes(b"PAR1 broken")
    return folder


@pytest.mark.ray
@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_ray_engine_writes_what_the_local_engine_writes(ray_cluster, shards, tmp_path, suffix):
    outputs, told = {}, {}
    for engine in ("local", "ray"):
        target = tmp_path / f"{engine}.{suffix}"
        result = CliRunner().invoke(
            main, ["assign", "--sizes", str(shards), "-o", str(target), "--engine", engine], catch_exceptions=False
        )
        assert result.exit_code == 1, result.output  # the zero widths
        told[engine] = [
            line for line in result.stderr.splitlines() if line.startswith(("warning:", "note:")) or "rows" in line
        ]
        outputs[engine] = target
    assert told["ray"] == told["local"]
    assert told["local"][0].startswith("warning: skipped") and told["local"][-1].endswith(
        " of 2001 rows could not be placed; see their 'error' column."
    )
    if suffix == "parquet":
        local, ray = (parquet.read_table(outputs[engine]) for engine in ("local", "ray"))
        assert ray.schema.equals(local.schema) and ray.equals(local)
        assert local.num_rows == 2001 and local.column("caption").to_pylist()[:2] == [None, None]
    else:
        assert outputs["ray"].read_bytes() == outputs["local"].read_bytes()


@pytest.mark.ray
def test_ray_engine_splits_by_bucket_as_the_local_engine_does(ray_cluster, shards, tmp_path):
    for engine in ("local", "ray"):
        arguments = ["assign", "--sizes", str(shards), "--split-by-bucket", str(tmp_path / engine), "--engine", engine]
        assert CliRunner().invoke(main, [*arguments, "--batch-size", "4"]).exit_code == 1
    local, ray = tmp_path / "local", tmp_path / "ray"
    assert json.loads((ray / "_manifest.json").read_text()) == json.loads((local / "_manifest.json").read_text())
    for folder in sorted(local.glob("bucket=*")):
        assert parquet.read_table(ray / folder.name).equals(parquet.read_table(folder))


def test_ray_engine_refuses_what_is_not_parquet(tmp_path):
    source = tmp_path / "sizes.csv"
    source.write_text("width,height\n5,5\n")
    result = CliRunner().invoke(main, ["assign", "--sizes", str(source), "--engine", "ray"])
    assert result.exit_code == 2 and "--engine ray reads Parquet" in result.output


def test_without_ray_the_engine_is_a_one_line_install_hint(monkeypatch, shards):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result = CliRunner().invoke(main, ["assign", "--sizes", str(shards), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'aspectbucket[ray]'" in result.output and "Traceback" not in result.output
