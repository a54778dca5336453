"""The HTML page: self-contained, escaped, sections, previews; and rendered for real in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from aspectbucket.report.html import INLINE_ROWS, HtmlSection, render_html
from aspectbucket.report.summary import summarize
from aspectbucket.report.thumbnails import kept_window, preview_jpeg
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
    assert 'onerror="document' not in page and "x&lt;img src=x onerror=&quot;document" in page
    assert "<title>aspectbucket report: data &lt;b&gt;</title>" in page
    assert page.count('<figure class="chart">') == 3


def test_previews_for_the_worst_cropped_then_a_table(dataset):
    page = render_html(dataset, previews_per_bucket=1)
    bucket = re.search(r'<div class="bucket" id="bucket-0-2">.*?(?=<div class="bucket")', page, re.S)
    assert bucket is not None, "the 640x384 bucket (number 2) is in the gallery, before bucket 3"
    # Four images share bucket 640x384; the worst cropped gets the one preview, three go to the table,
    # which travels as JSON (built by the page when opened), worst first.
    assert bucket.group(0).count('<figure class="thumb"') == 1
    assert "3 more images (table)" in bucket.group(0)
    preview_loss = float(re.search(r'data-loss="([0-9.]+)"', bucket.group(0)).group(1))
    table = json.loads(re.search(r'<script type="application/json">(.*?)</script>', bucket.group(0)).group(1))
    assert table["head"] == ["image", "size", "cut", "scale"] and len(table["rows"]) == 3
    assert table["keys"] == sorted(table["keys"], reverse=True) and preview_loss >= table["keys"][0]


def test_long_tables_travel_as_escaped_json(tmp_path):
    images = [(f"<b>{index}.jpg", 768 + index, 512) for index in range(INLINE_ROWS + 5)]
    page = render_html(make_plan(images, root=tmp_path), previews_per_bucket=0)
    assert "<b>" not in page
    payloads = re.findall(r'<script type="application/json">(.*?)</script>', page)
    sizes = next(json.loads(text) for text in payloads if json.loads(text)["head"][0] == "image size")
    assert len(sizes["rows"]) == INLINE_ROWS + 5
    gallery = next(json.loads(text) for text in payloads if json.loads(text)["keys"])
    assert gallery["rows"][0][0].startswith("<b>")  # the page inserts it as text, never as HTML


def test_extra_sections_come_before_the_gallery(dataset):
    extra = HtmlSection("compare", "Compare trainers", "<p>table</p>")
    page = render_html(dataset, sections=[extra])
    assert '<a href="#compare">Compare trainers</a>' in page
    assert page.index('<section id="compare">') < page.index('<section id="gallery">')


def test_preview_dims_what_the_crop_cuts(tmp_path):
    Image.new("RGB", (300, 100), (200, 200, 200)).save(tmp_path / "grey.png")
    window = kept_window(300, 100, 300, 100, 100, 0, 100, 100)
    assert window == (100.0, 0.0, 200.0, 100.0)
    data = preview_jpeg(tmp_path / "grey.png", (300, 100), window, apply_exif=False, side=150)
    import io

    preview = Image.open(io.BytesIO(data)).convert("L")
    assert preview.size == (150, 50)
    assert preview.getpixel((10, 25)) < 100 < preview.getpixel((75, 25))
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    assert preview_jpeg(tmp_path / "junk.jpg", (10, 10), (0, 0, 10, 10), apply_exif=False) is None


CHECK = """<script>
window.addEventListener('load', function () {
  function shown(img) { var box = img.getBoundingClientRect();
    return img.complete && img.naturalWidth > 0 && box.width > 0 && box.height > 0; }
  var charts = Array.prototype.slice.call(document.querySelectorAll('figure.chart img'));
  var thumbs = Array.prototype.slice.call(document.querySelectorAll('figure.thumb img.preview'));
  var good = charts.length > 0 && thumbs.length > 0 && charts.every(shown) && thumbs.every(shown);
  document.querySelectorAll('details.lazy').forEach(function (details) { details.open = true; });
  setTimeout(function () {
    document.querySelector('[data-sort="loss-asc"]').click();
    var ascending = Array.prototype.every.call(document.querySelectorAll('.sortable'), function (box) {
      var losses = Array.prototype.map.call(box.children, function (e) { return +e.dataset.loss; });
      return losses.every(function (value, i) { return i === 0 || losses[i - 1] <= value; });
    });
    var rows = document.querySelectorAll('details.lazy tbody.sortable tr').length;
    var marker = document.createElement('div');
    marker.id = 'e2e-result';
    marker.textContent = 'charts=' + charts.length + ' thumbs=' + thumbs.length + ' shown=' + good +
      ' tablerows=' + rows + ' sorted=' + ascending + ' pwned=' + (document.body.dataset.pwned === '1');
    document.body.appendChild(marker);
  }, 100);
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_page_renders_in_headless_chromium(dataset, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed")
    page = tmp_path / "report.html"
    page.write_text(render_html(dataset, previews_per_bucket=2).replace("</body>", CHECK + "</body>"), encoding="utf-8")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    marker = re.search(r'<div id="e2e-result">([^<]*)</div>', result.stdout)
    assert marker is not None, result.stderr[-2000:]
    assert marker.group(1) == "charts=3 thumbs=6 shown=true tablerows=2 sorted=true pwned=false"
