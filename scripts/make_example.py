"""Build the bundled example dataset (src/aspectbucket/example/) from scikit-image's sample photographs.

Run: ``python scripts/make_example.py [--source DIR] [--out DIR]``. ``--source`` is the ``skimage/data``
folder of a scikit-image install or unpacked wheel (``pip download --no-deps scikit-image`` and unzip
it); by default the installed ``skimage`` package is used. scikit-image is not a dependency of
aspectbucket: only its public-domain and CC0 photographs are used, as plain files.

The images are cut to sizes chosen to show every bucketing effect at kohya's default 512x512 budget:
landscape, portrait, square, an exact bucket size, extreme 3:1 and 1:3 strips, small images that get
upscaled (one over 2x), near-square images over the budget that lose a step to sd-scripts issue 731
in no-upscale mode, EXIF-rotated photos (orientation tags written with Pillow), and one truncated
download. The output is deterministic for a given Pillow version.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[1]
QUALITY = 85

#: skimage file -> (title, credit and license) as scikit-image's data docstrings state them.
SOURCES = {
    "astronaut.png": ("Astronaut Eileen Collins", "NASA Great Images database; public domain"),
    "chelsea.png": ("Chelsea the cat", "Stefan van der Walt; CC0"),
    "coffee.png": ("Coffee cup", "Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0"),
    "rocket.jpg": ("Launch of DSCOVR on Falcon 9", "SpaceX; released into the public domain"),
    "hubble_deep_field.jpg": ("Hubble eXtreme Deep Field", "NASA / HubbleSite; public domain"),
    "retina.jpg": ("Human retina (fundus photograph)", "Mikael Häggström, Wikimedia Commons; CC0 1.0"),
    "camera.png": ("Camera man", "Lav Varshney; CC0"),
    "clock_motion.png": ("Motion-blurred wall clock", "Stefan van der Walt; public domain"),
    "brick.png": ("Brick wall", "CC0Textures (Bricks25); CC0"),
    "gravel.png": ("Gravel", "CC0Textures (Gravel04); CC0"),
    "grass.png": ("Grass", "linolafett on DeviantArt (Grass 01); CC0"),
}


@dataclass(frozen=True)
class Cut:
    """One example image: a region of a source, resized, optionally stored sideways with an EXIF tag."""

    folder: str
    name: str
    source: str
    size: tuple[int, int]  # the upright (displayed) size
    caption: str
    box: tuple[int, int, int, int] | None = None  # region of the source, None for all of it
    orientation: int = 1  # EXIF orientation written; the pixels are stored so that it turns them upright
    truncate: float = 0.0  # keep only this fraction of the file's bytes (a broken download)


CUTS = [
    Cut("10_sks cat", "chelsea_full.jpg", "chelsea.png", (451, 300), "sks cat lying on a wooden floor"),
    Cut(
        "10_sks cat",
        "chelsea_face.jpg",
        "chelsea.png",
        (260, 260),
        "sks cat, close-up of the face",
        box=(140, 20, 400, 280),
    ),
    Cut("10_sks cat", "chelsea_tiny.jpg", "chelsea.png", (150, 100), "sks cat, a tiny thumbnail"),
    Cut(
        "10_sks cat",
        "chelsea_phone.jpg",
        "chelsea.png",
        (225, 300),
        "sks cat, portrait taken on a phone",
        box=(150, 0, 375, 300),
        orientation=6,
    ),
    Cut("3_style", "coffee.jpg", "coffee.png", (600, 400), "a cup of coffee on a wooden table"),
    Cut(
        "3_style",
        "rocket_tall.jpg",
        "rocket.jpg",
        (214, 427),
        "a rocket lifting off, tall crop",
        box=(213, 0, 427, 427),
    ),
    Cut(
        "3_style",
        "hubble_strip.jpg",
        "hubble_deep_field.jpg",
        (1000, 333),
        "deep field galaxies, a 3:1 strip",
        box=(0, 300, 1000, 633),
    ),
    Cut(
        "3_style",
        "retina_column.jpg",
        "retina.jpg",
        (400, 1200),
        "a retina, a 1:3 column",
        box=(500, 100, 900, 1300),
    ),
    Cut("3_style", "astronaut.jpg", "astronaut.png", (512, 512), "an astronaut in front of a flag"),
    Cut(
        "3_style",
        "camera_sideways.jpg",
        "camera.png",
        (512, 384),
        "a man with a camera on a tripod",
        box=(0, 64, 512, 448),
        orientation=8,
    ),
    Cut(
        "3_style",
        "clock_upside_down.jpg",
        "clock_motion.png",
        (400, 300),
        "a wall clock, motion blur",
        orientation=3,
    ),
    Cut(
        "3_style",
        "coffee_truncated.jpg",
        "coffee.png",
        (300, 300),
        "a cup of coffee, download cut short",
        box=(150, 50, 450, 350),
        truncate=0.6,
    ),
    Cut("2_photos", "retina_near_square.jpg", "retina.jpg", (600, 580), "a retina"),
    Cut(
        "2_photos",
        "hubble_near_square.jpg",
        "hubble_deep_field.jpg",
        (512, 520),
        "deep field galaxies",
        box=(0, 0, 512, 520),
        orientation=6,
    ),
    Cut("2_photos", "gravel_large.jpg", "gravel.png", (1024, 1000), "gravel, seen from above"),
    Cut("2_photos", "brick_square.jpg", "brick.png", (700, 700), "a brick wall"),
    Cut("2_photos", "grass_wide.jpg", "grass.png", (900, 600), "grass, seen from above", box=(0, 85, 512, 427)),
    Cut("2_photos", "coffee_small.jpg", "coffee.png", (200, 150), "a cup of coffee, small"),
]

# Pillow's transpose that stores an upright image so that the EXIF orientation turns it back upright.
_STORE = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}

CONFIG = """\
# kohya-ss sd-scripts dataset config for the bundled example (pass it with --dataset_config).
# aspectbucket reads image_dir relative to this file's folder; sd-scripts reads it relative to the
# folder it runs in, so run training from here or make the paths absolute.
[general]
resolution = 512
caption_extension = ".txt"
enable_bucket = true

# Block 0: the subject and style images, upscaled into buckets as sd-scripts does by default.
[[datasets]]
batch_size = 4

  [[datasets.subsets]]
  image_dir = "10_sks cat"
  num_repeats = 10
  class_tokens = "sks cat"

  [[datasets.subsets]]
  image_dir = "3_style"
  num_repeats = 3

# Block 1: photos bucketed without upscaling (the Kohya_ss GUI's default), where near-square images
# over the budget lose a whole step on both sides (sd-scripts issue 731).
[[datasets]]
batch_size = 2
bucket_no_upscale = true

  [[datasets.subsets]]
  image_dir = "2_photos"
  num_repeats = 2
"""


def make_image(cut: Cut, source_dir: Path) -> Image.Image:
    with Image.open(source_dir / cut.source) as source:
        picture = source.convert("RGB") if source.mode not in ("RGB", "L") else source.copy()
    if cut.box:
        picture = picture.crop(cut.box)
    if picture.size != cut.size:
        picture = picture.resize(cut.size, Image.Resampling.LANCZOS)
    transpose = _STORE[cut.orientation]
    return picture.transpose(transpose) if transpose else picture


def write_cut(cut: Cut, source_dir: Path, out: Path) -> None:
    folder = out / cut.folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / cut.name
    options = {"quality": QUALITY}
    if cut.orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = cut.orientation
        options["exif"] = exif
    make_image(cut, source_dir).save(path, **options)
    if cut.truncate:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut.truncate)])
    (folder / f"{Path(cut.name).stem}.txt").write_text(cut.caption + "\n", encoding="utf-8")


def attribution() -> str:
    lines = [
        "# Example dataset: sources and licenses",
        "",
        "Every image here is cut from a photograph shipped with scikit-image (`skimage/data`), whose",
        "documentation states the credit and license below. All are public domain or CC0; aspectbucket's",
        "cuts are released under the same terms. `scripts/make_example.py` rebuilds this folder.",
        "",
        "| file | source (skimage/data) | title | credit and license | cut |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cut in CUTS:
        title, credit = SOURCES[cut.source]
        made = [f"{cut.size[0]}x{cut.size[1]} upright"]
        if cut.box:
            made.insert(0, "region {},{},{},{}".format(*cut.box))
        if cut.orientation != 1:
            made.append(f"stored turned, EXIF orientation {cut.orientation}")
        if cut.truncate:
            made.append(f"file cut to {cut.truncate:.0%} of its bytes (a broken download)")
        lines.append(f"| {cut.folder}/{cut.name} | {cut.source} | {title} | {credit} | {'; '.join(made)} |")
    return "\n".join(lines) + "\n"


def default_source() -> Path:
    try:
        import skimage  # only to find its data folder
    except ImportError:
        raise SystemExit("scikit-image is not installed: pass --source path/to/skimage/data") from None
    return Path(skimage.__file__).parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="skimage/data folder")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "src" / "aspectbucket" / "example")
    args = parser.parse_args()
    source_dir = args.source or default_source()
    missing = [name for name in SOURCES if not (source_dir / name).exists()]
    if missing:
        raise SystemExit(f"{source_dir} lacks {', '.join(missing)}")
    if args.out.exists():
        shutil.rmtree(args.out)
    for cut in CUTS:
        write_cut(cut, source_dir, args.out)
    (args.out / "dataset.toml").write_text(CONFIG, encoding="utf-8")
    (args.out / "ATTRIBUTION.md").write_text(attribution(), encoding="utf-8")
    total = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    print(f"wrote {len(CUTS)} images to {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
