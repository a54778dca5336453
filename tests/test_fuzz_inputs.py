"""Fuzzing what aspectbucket reads from users: image headers and dataset configs. Whatever the bytes, a
result or a reason comes back, never an exception (issue 15)."""

from __future__ import annotations

import os
import struct
import tempfile
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aspectbucket.scan.headers import REASONS, Header, read_header, read_header_with_pillow, tiff_orientation
from aspectbucket.scan.sources import DatasetError, Subset, read_config

#: Starts of real formats, so that the fuzzer gets past each parser's signature check.
SIGNATURES = [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe1",
    b"\xff\xd8\xff\xc0\x00\x11\x08",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"BM",
    b"GIF89a",
    b"II*\x00",
    b"",
]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_header(header: Header | None) -> None:
    if header is None:
        return
    width, height, orientation, reason = header
    assert reason in REASONS
    assert 1 <= orientation <= 8
    assert (width > 0 and height > 0) or reason


@FUZZ
@given(start=st.sampled_from(SIGNATURES), body=st.binary(max_size=600))
@example(start=b"\xff\xd8\xff\xe1", body=b"\xff\xff" + b"Exif\x00\x00II*\x00" + struct.pack("<I", 2**31))
@example(start=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", body=struct.pack(">II", 2**32 - 1, 0))
def test_any_file_bytes_give_a_header_or_a_reason(start, body):
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(start + body)
    try:
        size = os.path.getsize(handle.name)
        check_header(read_header(handle.name, size))
        check_header(read_header_with_pillow(handle.name, size))
    finally:
        os.unlink(handle.name)


@FUZZ
@given(data=st.binary(max_size=300), start=st.integers(0, 400), end=st.one_of(st.none(), st.integers(-5, 400)))
def test_any_exif_bytes_give_an_orientation(data, start, end):
    assert 1 <= tiff_orientation(data, start, end) <= 8


#: TOML values of every kind, including hostile ones: huge numbers, NUL, '~user', separators.
VALUES = st.recursive(
    st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(max_size=12),
        st.sampled_from(["~nosuchuser-x", "a\x00b", "/", ".txt", "/etc", "..", "", "[1024, 1024]", "512,768"]),
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
KEYS = st.sampled_from(
    [
        "image_dir",
        "num_repeats",
        "batch_size",
        "resolution",
        "min_bucket_reso",
        "max_bucket_reso",
        "bucket_reso_steps",
        "bucket_no_upscale",
        "enable_bucket",
        "is_reg",
        "caption_extension",
        "class_tokens",
        "subsets",
    ]
)
TABLES = st.dictionaries(KEYS, VALUES, max_size=5)


def toml_text(document: dict) -> str:
    """A TOML rendering of ``document`` good enough for fuzzing (tomllib decides whether it parses)."""

    def value(item) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item).replace("inf", "inf").replace("nan", "nan")
        if isinstance(item, str):
            return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in item) + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(child) for child in item) + "]"
        return "{" + ", ".join(f'"{key}" = {value(child)}' for key, child in item.items()) + "}"

    lines = []
    for key, item in document.get("general", {}).items():
        lines.append(f"general.{key} = {value(item)}")
    for block in document.get("datasets", []):
        lines.append("[[datasets]]")
        lines += [f"{key} = {value(item)}" for key, item in block.items() if key != "subsets"]
        for subset in block.get("subsets", []):
            lines.append("[[datasets.subsets]]")
            lines += [f"{key} = {value(item)}" for key, item in subset.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(
    general=TABLES,
    blocks=st.lists(st.tuples(TABLES, st.lists(TABLES, max_size=3)), max_size=3),
    real_dir=st.booleans(),
)
def test_any_config_gives_subsets_or_a_one_line_reason(tmp_path_factory, general, blocks, real_dir):
    folder = tmp_path_factory.mktemp("config")
    datasets = []
    for block, subsets in blocks:
        block = {key: item for key, item in block.items() if key != "subsets"}
        subsets = [{key: item for key, item in subset.items() if key != "subsets"} for subset in subsets]
        if real_dir:
            subsets = [{**subset, "image_dir": str(folder)} for subset in subsets]
        datasets.append({**block, "subsets": subsets})
    general = {key: item for key, item in general.items() if key != "subsets"}
    path = folder / "dataset.toml"
    path.write_text(toml_text({"general": general, "datasets": datasets}), encoding="utf-8")
    try:
        subsets = read_config(path)
    except DatasetError as error:
        assert str(error) and "\n" not in str(error).strip()
        return
    assert all(isinstance(subset, Subset) and isinstance(subset.image_dir, Path) for subset in subsets)
    assert all(1 <= subset.repeats < 2**31 for subset in subsets)


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_as_a_config_gives_subsets_or_a_reason(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("text") / "dataset.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_config(path)
    except DatasetError:
        pass
    except tomllib.TOMLDecodeError as error:  # pragma: no cover - read_config wraps these
        raise AssertionError(error) from None
