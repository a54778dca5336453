"""The HTML page: self-contained, escaped, sections, chart SVG, gallery data, previews and their cache.

The page's behaviour in a browser is tested in test_report_browser.py."""

from __future__ import annotations

import io
import itertools
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.report import charts, thumbnails
from aspectbucket.report.html import INLINE_ROWS, HtmlSection, render_html
from aspectbucket.report.summary import summarize
from aspectbucket.report.thumbnails import PreviewCache, _png_reduced, _rgb, decode_small, preview_jpeg
from report_plans import make_plan, write_images

HOSTILE = 'x<img src=x onerror="document.body.dataset.pwned=1">.png'
IMAGES = [
    ("wide.jpg", 768, 512),
    ("wide2.jpg", 900, 600),
    ("wide3.jpg", 780, 520),
    ("tall.jpg", 512, 752),
    ("strip.png", 1500, 250),
    ("tiny.jpg", 200, 150),
    ("turned.jpg", 800, 600, 6),
    (HOSTILE, 600, 400),
    ("broken <script>alert(1).jpg", 0, 0, 1, "not an image: the content matches no image format"),
]


@pytest.fixture
def dataset(tmp_path):
    write_images(tmp_path / "data" / "5_things", IMAGES)
    return make_plan(IMAGES, root=tmp_path / "data", subsets=[("5_things", 5)])


def test_page_is_self_contained_and_escapes_file_names(dataset):
    page = render_html(dataset, summarize(dataset), source="data <b>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script>alert" not in page and "broken &lt;script&gt;alert(1).jpg" in page
    assert "<img src=x" not in page and "x\\u003cimg src=x onerror" in page  # JSON the script adds as text
    assert "<title>aspectbucket report: data &lt;b&gt;</title>" in page
    assert page.count('<figure class="chart">') == 3


def gallery(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page).group(1))


def test_previews_for_the_worst_cropped_of_each_bucket(dataset):
    page = render_html(dataset, previews_per_bucket=1)
    images = gallery(page)["images"]
    previews = json.loads(re.search(r'id="report-previews">(.*?)</script>', page).group(1))
    # Several images share bucket 640x384 with wide.jpg; only the worst cropped of them carries a preview.
    bucket = images["b"][images["name"].index("wide.jpg")]
    same = [index for index, number in enumerate(images["b"]) if number == bucket]
    with_preview = [index for index in same if images["p"][index] >= 0]
    assert len(same) > 1 and len(with_preview) == 1
    assert images["loss"][with_preview[0]] == max(images["loss"][index] for index in same)
    assert len(previews) == sum(1 for slot in images["p"] if slot >= 0)
    assert images["err"][images["name"].index("broken <script>alert(1).jpg")].startswith("not an image")


def test_every_image_travels_once_as_escaped_json_columns(tmp_path):
    images = [(f"<b>{index}.jpg", 768 + index, 512) for index in range(INLINE_ROWS + 5)]
    page = render_html(make_plan(images, root=tmp_path), previews_per_bucket=0)
    assert "<b>" not in page
    payloads = re.findall(r'<script type="application/json">(.*?)</script>', page)
    sizes = next(json.loads(text) for text in payloads if json.loads(text)["head"][0] == "image size")
    assert len(sizes["rows"]) == INLINE_ROWS + 5
    data = gallery(page)
    assert len(data["images"]["name"]) == INLINE_ROWS + 5 and data["images"]["name"][0].startswith("<b>")
    assert set(data["images"]["p"]) == {-1}
    window = data["images"]["win"][0]  # 768x512 -> 640x427 -> 640x384: rows are cut, the middle kept
    assert window[0] == 0 and window[2] == 1 and window[1] == pytest.approx(1 - window[3], abs=0.005)
    assert 0 < window[1] < window[3] < 1


def test_gallery_cards_show_each_images_drawn_target_resolution(tmp_path):
    images = [(f"{index}.jpg", 900 + 41 * index, 700) for index in range(9)]
    several = make_plan(images, root=tmp_path, profile="onetrainer", settings={"target_resolution": "512,768,1024"})
    page = render_html(several, previews_per_bucket=0)
    assert gallery(page)["images"]["tr"] == several.target_resolutions().tolist()
    assert set(gallery(page)["images"]["tr"]) == {512, 768, 1024}
    assert "trained at 512: " in page and "I.tr[i]" in page  # the settings line; the card's caption reads tr
    plain = render_html(make_plan(images, root=tmp_path), previews_per_bucket=0)
    assert "tr" not in gallery(plain)["images"] and "trained at" not in plain


def test_charts_are_inline_svg_with_a_dot_per_image_and_a_bar_per_bucket(dataset):
    page = render_html(dataset)
    placed = sum(1 for error in dataset.errors if not error)
    assert page.count('<circle class="dot"') == placed
    assert page.count('<g class="bar"') == len(summarize(dataset).buckets)
    assert "<img" not in page.split('id="charts"')[1].split("</section>")[0]  # no picture of a chart


def test_bucket_labels_stay_readable_at_40_and_more_buckets(tmp_path):
    # Every ratio from 1:4 to 4:1 at 1024 with max 4096: about 60 buckets, dozens in use.
    sizes = [(f"{index}.jpg", round(1024 * 1.04**index), round(1024 / 1.04**index)) for index in range(-36, 37)]
    options = BucketOptions(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=4096)
    plan = make_plan(sizes, root=tmp_path, options=options)
    summary = summarize(plan)
    assert len(summary.buckets) >= 40
    chart = charts.switching_chart(plan, summary)
    positions = [float(x) for x in re.findall(r'<text class="blabel" transform="translate\(([0-9.]+),', chart)]
    assert 0 < len(positions) < len(summary.buckets)  # some labels left to hover
    assert all(b - a >= charts.LABEL_SPACING - 0.2 for a, b in itertools.pairwise(positions))
    assert chart.count('<g class="bucketline"') == len({row.width / row.height for row in summary.buckets})
    bars = charts.bucket_chart(summary)
    assert bars.count('<g class="bar"') == len(summary.buckets)
    assert charts.spaced_labels([0, 5, 13, 20, 26.5]) == [True, False, True, False, True]


def test_extra_sections_come_before_the_gallery(dataset):
    extra = HtmlSection("compare", "Compare trainers", "<p>table</p>")
    page = render_html(dataset, sections=[extra])
    assert '<a href="#compare">Compare trainers</a>' in page
    assert page.index('<section id="compare">') < page.index('<section id="gallery">')


def test_a_preview_is_the_image_small_and_upright_when_exif_is_applied(tmp_path):
    Image.new("RGB", (300, 100), (200, 200, 200)).save(tmp_path / "grey.png")
    preview = Image.open(io.BytesIO(preview_jpeg(tmp_path / "grey.png", apply_exif=False, side=150)))
    assert preview.size == (150, 50)
    turned = Image.new("RGB", (300, 100), (10, 200, 10))
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(tmp_path / "turned.jpg", exif=exif)
    assert Image.open(io.BytesIO(preview_jpeg(tmp_path / "turned.jpg", apply_exif=True, side=150))).size == (50, 150)
    assert Image.open(io.BytesIO(preview_jpeg(tmp_path / "turned.jpg", apply_exif=False, side=150))).size == (150, 50)
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    assert preview_jpeg(tmp_path / "junk.jpg", apply_exif=False) is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_a_large_png_is_reduced_strip_by_strip_to_the_same_pixels(tmp_path, mode):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (777, 1301, 4), dtype=np.uint8)
    pixels[200:400] = pixels[200]  # runs of equal rows: PNG's Up filter, across strip boundaries
    image = Image.fromarray(pixels, "RGBA").convert(mode)
    image.save(tmp_path / "big.png")
    strips = _png_reduced(tmp_path / "big.png", 5)
    whole = _rgb(Image.open(tmp_path / "big.png")).reduce(5)
    assert strips.size == whole.size
    assert np.array_equal(np.asarray(strips), np.asarray(whole))


def test_pngs_of_other_bit_depths_decode_whole(tmp_path):
    Image.new("1", (900, 700), 1).save(tmp_path / "bits.png")
    Image.new("I;16", (900, 700), 400).save(tmp_path / "deep.png")
    for name in ("bits.png", "deep.png"):
        assert _png_reduced(tmp_path / name, 2) is None
        assert decode_small(tmp_path / name, apply_exif=False).size == (320, 249)


def test_previews_are_cached_by_path_size_mtime_and_settings(tmp_path, monkeypatch):
    Image.new("RGB", (640, 480), (90, 20, 20)).save(tmp_path / "a.png")
    cache = PreviewCache(tmp_path / "cache")
    first = cache.get(tmp_path / "a.png", apply_exif=False)
    made = []
    monkeypatch.setattr(thumbnails, "preview_jpeg", lambda *args: made.append(args) or b"new")
    assert cache.get(tmp_path / "a.png", apply_exif=False) == first and made == []
    assert cache.get(tmp_path / "a.png", apply_exif=True) == b"new"  # other settings, other key
    Image.new("RGB", (640, 480), (20, 90, 20)).save(tmp_path / "a.png")
    os.utime(tmp_path / "a.png", ns=(1, 1))
    assert cache.get(tmp_path / "a.png", apply_exif=False) == b"new" and len(made) == 2
    assert not any(path.name.startswith(".tmp-") for path in (tmp_path / "cache").rglob("*"))
