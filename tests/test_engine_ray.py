"""``report`` and ``export`` with ``--engine ray``: a real local Ray cluster of 2 workers gives the local engine's
report and bytes.

One cluster serves the whole module (``ray_cluster`` in tests/conftest.py; Ray takes seconds to start) and
these tests are marked ``ray``; without Ray installed they are skipped, except where CI asks for them
(``ASPECTBUCKET_TEST_RAY``). The install-hint tests need no Ray.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tarfile

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main


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


def test_an_address_no_cluster_answers_is_one_line_on_either_command(tmp_path):
    """Before this module's cluster starts (a Ray already running in the process would be used instead)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    shards = _parquet_shards(tmp_path / "shards")
    photos = _photos(tmp_path / "photos")
    for arguments in (["report", str(shards)], ["export", str(photos), str(tmp_path / "out")]):
        result = CliRunner().invoke(main, [*arguments, "--engine", "ray", "--address", "nohost:port"])
        assert result.exit_code == 2 and "cannot join the Ray cluster at nohost:port" in result.output
        assert "Traceback" not in result.output
    assert not ray.is_initialized()


def test_an_address_that_refuses_is_one_line_before_ray_is_asked(tmp_path):
    """A port nobody listens on: refused at once, in one line, and Ray never starts."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    shards = _parquet_shards(tmp_path / "shards")
    result = CliRunner().invoke(main, ["report", str(shards), "--engine", "ray", "--address", f"127.0.0.1:{port}"])
    assert result.exit_code == 2 and f"cannot join the Ray cluster at 127.0.0.1:{port}: connection refused" in (
        result.output
    )
    assert "Traceback" not in result.output and not ray.is_initialized()


@pytest.mark.parametrize("address", ["10.0.0.1:6379", "ray://10.0.0.1:10001", "[fd00::1]:6379"])
def test_an_address_that_never_answers_gives_up_after_the_connect_timeout(monkeypatch, address):
    """Ray would retry such a host for minutes; the check waits CONNECT_SECONDS for the port, then says so."""
    pytest.importorskip("ray")
    from aspectbucket.tables import ray_engine

    tried = []

    def silent(where, timeout):
        tried.append((where, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(ray_engine.socket, "create_connection", silent)
    with pytest.raises(ray_engine.RayUnavailable) as raised:
        ray_engine.check_reachable(address)
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    assert tried == [((host, int(address.rpartition(":")[2])), ray_engine.CONNECT_SECONDS)]
    assert str(raised.value) == f"cannot join the Ray cluster at {address}: no answer within 10 s"


@pytest.mark.parametrize("address", ["auto", "nohost:port", "headnode"])
def test_addresses_without_a_port_are_left_to_ray(monkeypatch, address):
    from aspectbucket.tables import ray_engine

    monkeypatch.setattr(ray_engine.socket, "create_connection", lambda *_: pytest.fail("no connection expected"))
    ray_engine.check_reachable(address)


@pytest.mark.ray
@pytest.mark.parametrize("named", [True, False], ids=["keys", "row-numbers"])
def test_report_on_parquet_shards_is_the_local_engines_report(ray_cluster, tmp_path, named):
    shards = _parquet_shards(tmp_path / "shards", named)
    local = _report(shards, tmp_path / "local")
    ray = _report(shards, tmp_path / "ray", "--engine", "ray")
    assert local[0] == 0 and ray[0] == local[0]
    for kind in ("json", "csv", "html"):
        assert ray[1][kind] == local[1][kind], kind
    assert ray[2] == local[2]  # the terminal report, warnings included
    assert "warning: skipped" in local[2][3] and "00009.parquet" in "".join(local[2]).replace(" ", "")
    assert (b"/000004" if named else b"/row 950,") in local[1]["csv"]


@pytest.mark.ray
def test_report_on_shards_given_by_a_relative_path_reads_them_on_the_workers(ray_cluster, tmp_path, monkeypatch):
    """The workers started in another folder: shards reach them as absolute paths, and the report and its
    warnings (a shard that breaks off, named as given) are the local engine's."""
    shards = _parquet_shards(tmp_path / "shards")
    whole = (shards / "00002.parquet").read_bytes()
    (shards / "00002.parquet").write_bytes(whole[: len(whole) // 2] + whole[-8:])  # its footer, its data cut
    monkeypatch.chdir(tmp_path)
    local = _report("shards", tmp_path / "local")
    ray = _report("shards", tmp_path / "ray", "--engine", "ray")
    assert ray == local and local[1]["csv"].count(b"\n") > 450
    assert any("shards/00002.parquet" in line for line in local[2])


@pytest.mark.ray
def test_report_on_one_parquet_file_is_the_local_engines_report(ray_cluster, tmp_path):
    shard = _parquet_shards(tmp_path / "shards") / "00003.parquet"
    local = _report(shard, tmp_path / "local", "--profile", "onetrainer")
    assert _report(shard, tmp_path / "ray", "--profile", "onetrainer", "--engine", "ray") == local
    assert local[0] == 0 and local[1]["csv"].count(b"\n") == 450 + 1


@pytest.mark.ray
def test_a_parquet_shard_that_breaks_off_keeps_its_rows_read_with_one_warning_on_both_engines(ray_cluster, tmp_path):
    from aspectbucket.tables.readers import BATCH_ROWS

    folder = tmp_path / "shards"
    folder.mkdir()
    rows = BATCH_ROWS + 1000
    sides = np.random.default_rng(3).integers(64, 3000, (2, rows))
    table = arrow.table({"width": sides[0], "height": sides[1]})
    parquet.write_table(table, folder / "00000.parquet", row_group_size=BATCH_ROWS)
    data = bytearray((folder / "00000.parquet").read_bytes())
    second = parquet.ParquetFile(folder / "00000.parquet").metadata.row_group(1).column(0).data_page_offset
    data[second : second + 64] = bytes(64)  # the second row group's first page header, zeroed
    (folder / "00000.parquet").write_bytes(bytes(data))
    told = {}
    for engine in ("local", "ray"):
        result = _invoke("report", str(folder), "--csv", str(tmp_path / f"{engine}.csv"), "--engine", engine)
        assert result.exit_code == 0, result.output
        told[engine] = [line for line in result.output.splitlines() if not line.startswith("wrote ")]
    text = " ".join(told["local"])
    assert told["ray"] == told["local"] and f"{BATCH_ROWS} images, {BATCH_ROWS} placed" in text
    assert text.count("warning: stopped reading") == 1
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


@pytest.mark.ray
def test_report_on_webdataset_shards_is_the_local_engines_report(ray_cluster, tmp_path):
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


def test_a_source_that_does_not_exist_is_said_so_on_either_engine(tmp_path):
    for engine in ("local", "ray"):
        result = CliRunner().invoke(main, ["report", str(tmp_path / "gone"), "--engine", engine])
        assert (
            result.exit_code == 2 and f"Invalid value for SOURCE: {tmp_path / 'gone'} does not exist" in result.output
        )


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


# --- export


def _photos(folder):
    """Photos of varied sizes and formats, one turned by EXIF, captions, a corrupt file, in subfolders."""
    rng = np.random.default_rng(11)
    for index in range(14):
        width, height = (int(side) for side in rng.integers(200, 1400, 2))
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        place = folder / f"{index % 3 + 1}_set" / f"img{index:02d}.{('png', 'jpg', 'webp')[index % 3]}"
        place.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(pixels)
        if index == 4:
            exif = Image.Exif()
            exif[0x0112] = 6
            image.save(place, exif=exif.tobytes())
        else:
            image.save(place)
        if index % 4 == 0:
            place.with_suffix(".txt").write_text(f"caption {index}")
    (folder / "1_set" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return folder


def _files(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.ray
@pytest.mark.parametrize("mode", ["train", "precrop"])
def test_export_on_ray_writes_the_local_engines_bytes_and_journal(ray_cluster, tmp_path, mode):
    source = _photos(tmp_path / "photos")
    told = {}
    for engine in ("local", "ray"):
        arguments = ["export", str(source), str(tmp_path / engine), "--resolution", "512", "--mode", mode]
        result = _invoke(*arguments, "--engine", engine)
        assert result.exit_code == 0, result.output
        told[engine] = result.output.replace(str(tmp_path / engine), "OUT")
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert "14 written, 0 already done, 1 failed -> OUT" in told["local"] and told["ray"] == told["local"]
    assert len(local) == 14 + 4 + 1  # images, captions, the journal
    assert ray == local


@pytest.mark.ray
def test_the_export_verb_on_a_cluster_writes_the_local_engines_bytes(ray_cluster, tmp_path, monkeypatch):
    """``aspectbucket.export(..., cluster=RayCluster())`` joins the Ray already running, as the command does."""
    import aspectbucket
    from aspectbucket import api
    from aspectbucket.export.ray_run import RayRunner
    from aspectbucket.tables.ray_engine import RayCluster

    submitted = []

    class CountingRunner(RayRunner):
        """The real runner, counting the images it hands to Ray."""

        @contextlib.contextmanager
        def pool(self, settings, tree):
            with super().pool(settings, tree) as (submit, workers):
                yield (lambda item: submitted.append(item) or submit(item)), workers

    monkeypatch.setattr(api, "RayRunner", CountingRunner)
    placed = aspectbucket.plan(_photos(tmp_path / "photos"), options={"resolution": (512, 512)}, use_cache=False)
    local = aspectbucket.export(placed, tmp_path / "local")
    assert submitted == []
    on_ray = aspectbucket.export(placed, tmp_path / "ray", cluster=RayCluster())
    assert len(submitted) == 14  # every image placed went to a Ray task (the corrupt one fails its scan)
    assert (on_ray.written, dict(on_ray.failed)) == (local.written, dict(local.failed)) and local.written == 14
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


@pytest.mark.ray
def test_a_task_that_fails_on_the_cluster_is_one_line(ray_cluster):
    """The task's own error, in one line, instead of Ray's traceback (the commands exit 2 with it)."""
    from aspectbucket.tables.ray_engine import RayCluster, RayTaskFailed

    with pytest.raises(RayTaskFailed) as raised:
        RayCluster().map(int, ["1", "two"])
    message = "a task on the Ray cluster failed: ValueError: invalid literal for int() with base 10: 'two'"
    assert str(raised.value) == message
    assert RayCluster().map(int, ["1", "2"]) == [1, 2]


@pytest.mark.ray
def test_a_ray_export_resumes_under_either_engine(ray_cluster, tmp_path, monkeypatch):
    _photos(tmp_path / "photos")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)  # relative paths given here reach the workers as absolute ones
    arguments = ["export", "photos", "out", "--resolution", "512"]
    assert _invoke(*arguments, "--engine", "ray").exit_code == 0
    first = _files(out)
    (out / "1_set" / "img03.png").unlink()
    result = _invoke(*arguments)  # the local engine finishes what the Ray run left
    assert "1 written, 13 already done, 1 failed" in result.output
    (out / "3_set" / "img05.webp").unlink()
    result = _invoke(*arguments, "--engine", "ray", "--workers", "2")
    assert "1 written, 13 already done, 1 failed" in result.output
    assert _files(out) == first


def test_a_ray_export_never_writes_under_its_input(tmp_path):
    source = _photos(tmp_path / "photos")
    result = CliRunner().invoke(main, ["export", str(source), str(source / "out"), "--engine", "ray"])
    assert result.exit_code == 2 and "refusing" in result.output and not (source / "out").exists()


def test_export_without_ray_is_a_one_line_install_hint_and_writes_nothing(monkeypatch, tmp_path):
    source = _photos(tmp_path / "photos")
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result = CliRunner().invoke(main, ["export", str(source), str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == 2 and "pip install 'aspectbucket[ray]'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_a_ray_tasks_outcome_becomes_what_the_local_runner_raises():
    """Without a cluster: the outcomes a worker sends back turn into the byte count, the image's failure, the
    OSError that stops the run (its errno kept, so a full disk still says so), and a lost task into one too."""
    import errno
    from concurrent.futures import Future

    from aspectbucket.export.plan import ItemError
    from aspectbucket.export.ray_run import FAILED, STOPPED, WRITTEN, _outcome
    from aspectbucket.export.run import ItemFailure

    def settled(value=None, error=None):
        returned = Future()
        outcome = _outcome(returned)
        returned.set_exception(error) if error else returned.set_result(value)
        return outcome

    assert settled((WRITTEN, 1234)).result() == 1234
    with pytest.raises(ItemFailure) as failure:
        settled((FAILED, ItemError.CORRUPT)).result()
    assert failure.value.reason is ItemError.CORRUPT
    with pytest.raises(OSError) as stopped:
        settled((STOPPED, (errno.ENOSPC, "No space left on device", "/out/a.png"))).result()
    assert (stopped.value.errno, stopped.value.filename) == (errno.ENOSPC, "/out/a.png")
    with pytest.raises(OSError, match="a Ray task failed: worker died"):
        settled(error=RuntimeError("worker\ndied")).result()
