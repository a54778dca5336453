"""How long the report takes at 100,000 images, next to placing them (baseline), and the page size.

Run: python benchmarks/report_large.py [--images 100000]. Sizes are random (seeded); the image files
do not exist except 200 real JPEGs used to time the previews (about what 12 previews per bucket
need), so the numbers are the report's own cost, not the disk's. When Chromium is installed, the
time it takes to load the page headless is printed too.
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
from PIL import Image

from aspectbucket.plan import plan_dataset
from aspectbucket.profiles import place
from aspectbucket.report import render_html, summarize, write_csv, write_json
from aspectbucket.report.thumbnails import previews
from aspectbucket.scan.scanner import ScanResult
from aspectbucket.scan.sources import Subset
from measure import CHROMIUM_ARGS


def timed(label: str, baseline: float | None, action):
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    ratio = "" if baseline is None else f"  ({seconds / baseline:7.1f}x placement)"
    print(f"{label:<34}{seconds:8.3f} s{ratio}")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    count = parser.parse_args().images
    rng = np.random.default_rng(0)
    widths = rng.integers(300, 4000, count)
    heights = rng.integers(300, 4000, count)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        subset = Subset(root / "10_data", repeats=10, name="data")
        result = ScanResult(
            subsets=[subset],
            paths=[subset.image_dir / f"{index:06d}.jpg" for index in range(count)],
            subset=np.zeros(count, dtype=np.int64),
            stored_width=widths,
            stored_height=heights,
            orientation=np.ones(count, dtype=np.int8),
            error=[""] * count,
        )
        print(f"{count} images, kohya 512x512")
        _, baseline = timed("placement (baseline)", None, lambda: place(widths, heights))
        plan, _ = timed("plan_dataset", baseline, lambda: plan_dataset(result, "kohya", {}))
        summary, _ = timed("summarize", baseline, lambda: summarize(plan, batch_size=4))
        timed("write JSON", baseline, lambda: write_json(root / "r.json", plan, summary))
        timed("write CSV", baseline, lambda: write_csv(root / "r.csv", plan, summary))
        page, _ = timed("render HTML (charts, tables)", baseline, lambda: render_html(plan, summary))
        (root / "r.html").write_text(page, encoding="utf-8")
        print(f"{'page size':<34}{len(page.encode()) / 1e6:8.1f} MB")
        real = _real_jpegs(root / "real", 200)
        real_plan = plan_dataset(
            ScanResult(
                subsets=[Subset(root / "real")],
                paths=real,
                subset=np.zeros(len(real), dtype=np.int64),
                stored_width=np.full(len(real), 1600),
                stored_height=np.full(len(real), 1200),
                orientation=np.ones(len(real), dtype=np.int8),
                error=[""] * len(real),
            ),
            "kohya",
            {},
        )
        timed("200 previews (1600x1200 JPEG)", baseline, lambda: previews(real_plan, range(len(real))))
        browser = shutil.which("chromium")
        if browser:
            (root / "empty.html").write_text("<!DOCTYPE html><title>empty</title>", encoding="utf-8")
            timed("Chromium loads an empty page", baseline, lambda: _load(browser, root / "empty.html"))
            timed("Chromium loads the report page", baseline, lambda: _load(browser, root / "r.html"))


def _real_jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    # A photograph-like picture (smooth, a little grain): pure noise would time the entropy decoder.
    across, down = np.meshgrid(np.linspace(0, 255, 1600), np.linspace(0, 255, 1200))
    grain = np.random.default_rng(1).normal(0, 6, (1200, 1600))
    pixels = np.clip(np.stack([across + grain, down + grain, (across + down) / 2], axis=-1), 0, 255)
    pixels = pixels.astype(np.uint8)
    Image.fromarray(pixels).save(folder / "000.jpg", quality=85)
    paths = [folder / f"{index:03d}.jpg" for index in range(count)]
    for path in paths[1:]:
        shutil.copyfile(paths[0], path)
    return paths


def _load(browser: str, page: Path) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={page.parent / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=300,
    )


if __name__ == "__main__":
    sys.exit(main())
