"""Export speed and quality against the sd-scripts pipeline, side by side in one run.

The baseline is what sd-scripts does per image when it caches latents or trains: PIL decodes the
whole JPEG, ``np.array`` copies it, ``cv2.resize(INTER_AREA)`` shrinks it to the covering size and
the centre is trimmed. Ours (:func:`aspectbucket.export.train_pixels`) decodes at reduced DCT scale
when the shrink allows and resamples only the kept window with LANCZOS (SIMD where
:mod:`aspectbucket.export.resample` has it). Both produce the same
bucket-sized RGB array per image. Quality is the PSNR of ours against a full-quality reference: the
whole image decoded at full size, LANCZOS-resized to the covering size, then trimmed.

Test images are photographs bundled with scikit-image, enlarged to 3000-4000 px and given
multi-scale texture and sensor noise so that they carry detail like camera JPEGs (an enlarged photo
alone is unrealistically smooth; pure noise is unrealistically hard to encode).

    python benchmarks/bench_export.py [--count 200] [--resolution 1024] [--threads 2]

Needs the ``bench`` extra (opencv-python-headless for the baseline, scikit-image for the photos).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from aspectbucket import BucketOptions, place
from aspectbucket.export.pixels import open_image, train_pixels
from aspectbucket.export.resample import lanczos

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry")


def make_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` JPEGs of 3000-4000 px on the long side, made once and reused from ``folder``."""
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    paths = []
    for index in range(count):
        path = folder / f"photo{index:04d}.jpg"
        long_side = int(rng.integers(3000, 4001))
        ratio = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        photo = photos[index % len(photos)]
        if not path.exists():
            wide = ratio >= 1
            size = (long_side, round(long_side / ratio)) if wide else (round(long_side * ratio), long_side)
            enlarged = np.asarray(photo.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
            enlarged += texture(size, rng)[..., None] + rng.normal(0, 2.0, size=(*size[::-1], 3))
            Image.fromarray(np.clip(enlarged, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def texture(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Detail at every scale (1/f-like): random fields at octaves from 1/256 to 1/2 of the size, summed."""
    field = np.zeros(size[::-1], dtype=np.float32)
    for octave in range(1, 9):
        cells = (max(2, size[0] >> (9 - octave)), max(2, size[1] >> (9 - octave)))
        noise = Image.fromarray(rng.normal(0, 1, size=cells[::-1]).astype(np.float32))
        field += np.asarray(noise.resize(size, Image.Resampling.BILINEAR)) * (12.0 / octave)
    return field


def sd_scripts_pixels(path: Path, resized, bucket, trim) -> np.ndarray:
    """sd-scripts: full decode, numpy copy, cv2 INTER_AREA to the covering size, centre trim."""
    import cv2

    image = Image.open(path)
    if image.mode != "RGB":
        image = image.convert("RGB")
    array = np.array(image, np.uint8)
    array = cv2.resize(array, resized, interpolation=cv2.INTER_AREA)
    return array[trim[1] : trim[1] + bucket[1], trim[0] : trim[0] + bucket[0]]


def our_pixels(path: Path, resized, bucket, trim) -> np.ndarray:
    return np.asarray(train_pixels(open_image(path, draft=resized), resized, bucket, trim))


def reference_pixels(path: Path, resized, bucket, trim) -> np.ndarray:
    """Full-quality: whole image decoded, LANCZOS to the covering size in one pass, then trimmed."""
    full = open_image(path).resize(resized, Image.Resampling.LANCZOS)
    return np.asarray(full.crop((trim[0], trim[1], trim[0] + bucket[0], trim[1] + bucket[1])))


def machine_ceiling(threads: int, rounds: int = 3) -> float:
    """How much faster ``threads`` threads run our LANCZOS resample alone (GIL released throughout) now.

    On a machine shared with other work this is about the most any threaded pipeline of ours can
    gain; it puts the measured thread speed-up in context.
    """
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1500, 1200, 3), dtype=np.uint8))
    jobs = [(image,)] * (16 * threads)

    def shrink(picture):
        lanczos(picture, (800, 640), (0.5, 0.25, 1199.5, 1499.75))

    one = many = 0.0
    for _ in range(rounds):
        one += run(shrink, jobs, 1)[0]
        many += run(shrink, jobs, threads)[0]
    return one / many


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def run(function, jobs, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds to run ``function`` over ``jobs`` on ``threads`` threads."""
    start, cpu = time.perf_counter(), time.process_time()
    if threads == 1:
        for job in jobs:
            function(*job)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda job: function(*job), jobs))
    return time.perf_counter() - start, time.process_time() - cpu


def interleaved(contenders: list[tuple], jobs, chunk: int = 10) -> list[tuple[float, float]]:
    """Images per second and cores busy of each ``(function, threads)``, run chunk by chunk in turn.

    Taking turns every few images lets every contender see the same machine: on a shared machine a
    load that comes and goes then slows all of them alike instead of whichever ran at that moment.
    """
    wall, cpu = [0.0] * len(contenders), [0.0] * len(contenders)
    for start in range(0, len(jobs), chunk):
        for index, (function, threads) in enumerate(contenders):
            spent = run(function, jobs[start : start + chunk], threads)
            wall[index] += spent[0]
            cpu[index] += spent[1]
    return [(len(jobs) / seconds, used / seconds) for seconds, used in zip(wall, cpu, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--psnr-every", type=int, default=10, help="PSNR on every Nth image (slow reference)")
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "aspectbucket-bench"
    parser.add_argument("--images", type=Path, default=scratch, help="where the JPEGs are made once and kept")
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(1)  # the baseline on one thread, like ours; sd-scripts' loaders run one per worker
    paths = make_images(args.images, args.count)
    sizes = np.array([Image.open(path).size for path in paths])
    placement = place(sizes[:, 0], sizes[:, 1], BucketOptions(resolution=(args.resolution, args.resolution)))
    jobs = [
        (path, (int(rw), int(rh)), (int(bw), int(bh)), (int(left), int(top)))
        for path, rw, rh, bw, bh, left, top in zip(
            paths,
            placement.resized_width,
            placement.resized_height,
            placement.bucket_width,
            placement.bucket_height,
            placement.trim_left,
            placement.trim_top,
            strict=True,
        )
    ]
    for path in paths:  # warm the page cache so both sides read from memory
        path.read_bytes()
    shrink = np.median(sizes.max(axis=1) / np.maximum(placement.resized_width, placement.resized_height))
    print(
        f"{len(jobs)} JPEGs, {sizes.max(axis=1).min()}-{sizes.max(axis=1).max()} px long side, "
        f"resolution {args.resolution}, median shrink {shrink:.2f}x, {os.cpu_count()} cores"
    )
    (baseline, _), (ours_one, cores_one), (ours_many, cores) = interleaved(
        [(sd_scripts_pixels, 1), (our_pixels, 1), (our_pixels, args.threads)], jobs
    )
    sample = jobs[:: args.psnr_every]
    quality = [psnr(our_pixels(*job), reference_pixels(*job)) for job in sample]
    baseline_quality = [psnr(sd_scripts_pixels(*job), reference_pixels(*job)) for job in sample]
    print(f"sd-scripts pipeline, 1 thread : {baseline:7.2f} images/s")
    print(
        f"aspectbucket, 1 thread        : {ours_one:7.2f} images/s  ({ours_one / baseline:.2f}x baseline; "
        f"{cores_one:.2f} cores busy)"
    )
    print(
        f"aspectbucket, {args.threads} threads       : {ours_many:7.2f} images/s  "
        f"({ours_many / ours_one:.2f}x our 1 thread; {cores:.2f} cores busy)"
    )
    print(
        f"  this machine now: a bare LANCZOS resample runs {machine_ceiling(args.threads):.2f}x faster on "
        f"{args.threads} threads (about the ceiling for a threaded pipeline here)"
    )
    print(
        f"PSNR vs full LANCZOS resize+crop, {len(quality)} images: ours min {min(quality):.1f} dB, "
        f"mean {np.mean(quality):.1f} dB; sd-scripts' INTER_AREA min {min(baseline_quality):.1f} dB"
    )


if __name__ == "__main__":
    main()
