"""``report`` and ``export`` with ``--engine ray``: a real local Ray cluster of 2 workers gives the local engine's
report and bytes.

One cluster serves the whole module (Ray takes seconds to start); without Ray installed these tests are
skipped, except where CI asks for them (``ASPECTBUCKET_TEST_RAY``) and the hint tests, which need no Ray.
"""

from __future__ import annotations

import os
import sys
import tarfile

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main


def _ray():
    if os.environ.get("ASPECTBUCKET_TEST_RAY") or os.environ.get("CI"):
        import ray

        return ray
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray = _ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def _invoke(*arguments: str):
    return CliRunner().invoke(main, list(arguments), catch_exceptions=False)


def _parquet_shards(folder, named: bool = True):
    """Five shards of different lengths (one empty, one null column), and a damaged one."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    start = 0
    for index, rows in enumerate((300, 0, 1, 450, 200)):
        table = {"width": rng.integers(0, 5000, rows), "height": rng.integers(1, 5000, rows)}
        if named:
            table["key"] = [None if i == 3 else f"{start + i:06d}" for i in range(rows)]
        table["caption"] = [None] * rows if index == 0 else [f"c{start + i}" for i in range(rows)]
        parquet.write_table(arrow.table(table), folder / f"{index:05d}.parquet")
        start += rows
    (folder / "00009.parquet").write_bytes(b"PAR1 broken")
    return folder


def _png(size) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _tar_shards(folder):
    """Three WebDataset shards with sidecars, a corrupt header, and a shard cut short."""
    folder.mkdir()
    sizes = iter([(576, 768), (1024, 512), (300, 900), (2000, 1000), (640, 640)])
    for index in range(2):
        with tarfile.open(folder / f"shard-{index:03d}.tar", "w") as archive:
            for sample in range(2 + index):
                _add(archive, f"{index}{sample:03d}.png", _png(next(sizes)))
                _add(archive, f"{index}{sample:03d}.json", b"{}")
            if index == 1:
                _add(archive, "broken.png", b"\x89PNG\r\n\x1a\n broken")
    whole = (folder / "shard-001.tar").read_bytes()
    (folder / "shard-002.tar").write_bytes(whole[:1500])
    return folder


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


def _report(source, folder, *extra: str) -> tuple[int, dict[str, bytes], list[str]]:
    folder.mkdir()
    outputs = {"json": folder / "r.json", "csv": folder / "r.csv", "html": folder / "r.html"}
    arguments = [f"--{kind}={path}" for kind, path in outputs.items()]
    result = _invoke("report", str(source), *arguments, "--batch-size", "4", "--resolution", "768", *extra)
    told = [line for line in result.output.splitlines() if not line.startswith("wrote ")]  # names the folder
    return result.exit_code, {kind: path.read_bytes() for kind, path in outputs.items()}, told


@pytest.mark.parametrize("named", [True, False], ids=["keys", "row-numbers"])
def test_report_on_parquet_shards_is_the_local_engines_report(cluster, tmp_path, named):
    shards = _parquet_shards(tmp_path / "shards", named)
    local = _report(shards, tmp_path / "local")
    ray = _report(shards, tmp_path / "ray", "--engine", "ray")
    assert local[0] == 0 and ray[0] == local[0]
    for kind in ("json", "csv", "html"):
        assert ray[1][kind] == local[1][kind], kind
    assert ray[2] == local[2]  # the terminal report, warnings included
    assert "warning: skipped" in local[2][3] and "00009.parquet" in "".join(local[2]).replace(" ", "")
    assert (b"/000004" if named else b"/row 950,") in local[1]["csv"]


def test_report_on_webdataset_shards_is_the_local_engines_report(cluster, tmp_path):
    shards = _tar_shards(tmp_path / "wds")
    local = _report(shards, tmp_path / "local", "--profile", "simpletuner")
    ray = _report(shards, tmp_path / "ray", "--profile", "simpletuner", "--engine", "ray", "--workers", "2")
    assert ray == local
    assert b"shard-001.tar/broken.png" in local[1]["csv"]
    assert "stoppedreadingshard-002.tar" in "".join(local[2]).replace(" ", "")


def test_report_on_a_folder_of_images_refuses_the_ray_engine_in_one_line(tmp_path):
    (tmp_path / "a.png").write_bytes(_png((64, 64)))
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--engine", "ray"])
    assert result.exit_code == 2 and "--engine ray reads metadata-only sources" in result.output


def test_report_without_ray_is_a_one_line_install_hint(monkeypatch, tmp_path):
    shards = _parquet_shards(tmp_path / "shards")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result = CliRunner().invoke(main, ["report", str(shards), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'aspectbucket[ray]'" in result.output and "Traceback" not in result.output


def test_address_and_workers_need_the_ray_engine(tmp_path):
    result = CliRunner().invoke(main, ["report", str(_parquet_shards(tmp_path / "shards")), "--workers", "2"])
    assert result.exit_code == 2 and "--address and --workers go with --engine ray" in result.output
