"""The HTML report: a second ``--html`` run against the first, the page in Chromium, a large PNG's memory.

Three measurements, each printed next to its baseline or target:

1. ``report --html`` on 300 large images (4000x3000 JPEGs and a few 6000x4000 PNGs) with a preview of
   every image, run twice through the CLI in this process: the first run decodes every image and fills
   the header and preview caches, the second finds them unchanged. Target: the second at least 10x faster.
2. A report of 2,000 images (default previews) opened in headless Chromium through Playwright: the
   page's size (target under 15 MB) and the time from navigation to the gallery built (target under 2 s).
3. Peak memory of one 6000x4000 PNG preview: the strip-by-strip decode against decoding it whole, each
   in a fresh Python process (its high-water mark in /proc, so Linux only).

    python benchmarks/bench_html.py [--images 300] [--pages 2000]

Needs the ``test`` extra (playwright) and Debian's Chromium for the second part; it is skipped without.
Timings depend on the machine: compare the ratios, and run on a quiet machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main as cli
from measure import CHROMIUM_ARGS

#: Peak memory growth of one preview, read from /proc (ru_maxrss would carry over this big process's peak).
_MEMORY_PROBE = """
import sys
from pathlib import Path
from PIL import Image
from aspectbucket.report.thumbnails import decode_small


def kilobytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


before = kilobytes("VmRSS:")
if sys.argv[2] == "strips":
    decode_small(Path(sys.argv[1]), apply_exif=False)
else:
    with Image.open(sys.argv[1]) as image:
        image.convert("RGB").thumbnail((320, 320))
print((kilobytes("VmHWM:") - before) / 1024)
"""


def picture(width: int, height: int, grain: float, seed: int) -> Image.Image:
    """A photograph-like picture: smooth gradients and a little grain (pure noise would time the entropy coder)."""
    across, down = np.meshgrid(
        np.linspace(0, 255, width, dtype=np.float32), np.linspace(0, 255, height, dtype=np.float32)
    )
    noise = np.random.default_rng(seed).normal(0, grain, (height, width)).astype(np.float32) if grain else 0
    pixels = np.stack([across + noise, down + noise, (across + down) / 2 + noise], axis=-1)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def large_images(folder: Path, count: int) -> Path:
    """``count`` files: 4000x3000 JPEGs and, one in fifteen, a 6000x4000 PNG (copies of two pictures)."""
    folder.mkdir(parents=True)
    picture(4000, 3000, 6, 1).save(folder / "source.jpg", quality=88)
    picture(6000, 4000, 0, 2).save(folder / "source.png")
    for index in range(count):
        source = folder / ("source.png" if index % 15 == 0 else "source.jpg")
        shutil.copyfile(source, folder / f"{index:04d}{source.suffix}")
    (folder / "source.jpg").unlink()
    png = folder.parent / "big.png"
    (folder / "source.png").rename(png)
    return png


def varied_images(folder: Path, count: int) -> None:
    """``count`` small JPEGs in 24 shapes, so the report has many buckets."""
    folder.mkdir(parents=True)
    shapes = [(int(900 * 1.09**step), int(900 / 1.09**step)) for step in range(-12, 12)]
    sources = []
    for index, (width, height) in enumerate(shapes):
        path = folder / f"shape{index:02d}.jpg"
        picture(width, height, 6, index).save(path, quality=85)
        sources.append(path)
    for index in range(count - len(sources)):
        shutil.copyfile(sources[index % len(sources)], folder / f"{index:05d}.jpg")


def report(folder: Path, page: Path, cache: Path, *options: str) -> float:
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["report", str(folder), "--html", str(page), "--cache", str(cache), *options])
    seconds = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"report failed: {result.output[-2000:]}")
    return seconds


def second_run(root: Path, count: int) -> Path:
    png = large_images(root / "large", count)
    arguments = (root / "large", root / "large.html", root / "cache", "--previews", str(count), "--resolution", "1024")
    first = report(*arguments)
    second = report(*arguments)
    print(f"{count} large images, a preview each ({count // 15 + 1} 6000x4000 PNGs), report --html:")
    print(f"  first run (cold caches)   {first:8.2f} s")
    print(f"  second run (unchanged)    {second:8.2f} s   {first / second:6.1f}x faster (target >= 10x)")
    return png


def chromium_page(root: Path, count: int) -> None:
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_path = None
    if browser_path is None:
        print("Chromium or playwright missing: the page load is not measured")
        return
    varied_images(root / "varied", count)
    page_path = root / "varied.html"
    seconds = report(root / "varied", page_path, root / "cache")
    megabytes = page_path.stat().st_size / 1e6
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto("about:blank")
        start = time.perf_counter()
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_selector("#cards figure.card")
        loaded = time.perf_counter() - start
        navigation = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
        cards = page.locator("#cards figure.card").count()
        browser.close()
    print(f"{count} images, report --html (default previews) {seconds:.2f} s:")
    print(f"  page size                 {megabytes:8.1f} MB   (target < 15 MB)")
    print(f"  Chromium: open to gallery {loaded:8.2f} s   (load event at {navigation:.2f} s; target < 2 s)")
    print(f"  cards on the first page   {cards:8d}")


def png_memory(png: Path) -> None:
    probe = png.parent / "probe.py"
    probe.write_text(_MEMORY_PROBE, encoding="utf-8")

    def peak(mode: str) -> float:
        output = subprocess.run(
            [sys.executable, str(probe), str(png), mode], capture_output=True, text=True, check=True
        )
        return float(output.stdout.strip())

    strips, whole = peak("strips"), peak("whole")
    print("one 6000x4000 PNG preview, peak memory growth:")
    print(f"  decoded whole (baseline)  {whole:8.0f} MB")
    print(f"  strip by strip            {strips:8.0f} MB   ({whole / max(strips, 1):.1f}x less)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300, help="large images for the second-run test")
    parser.add_argument("--pages", type=int, default=2000, help="images in the page opened in Chromium")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        png = second_run(root, arguments.images)
        chromium_page(root, arguments.pages)
        png_memory(png)


if __name__ == "__main__":
    main()
