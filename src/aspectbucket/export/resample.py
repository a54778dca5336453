"""LANCZOS resampling of a fractional source box: SIMD where a wheel provides it, Pillow otherwise.

Pillow's LANCZOS is plain C, one multiply at a time; after a scaled JPEG decode it takes about as
long as the decode itself. cykooz.resizer (Python bindings of the Rust crate fast_image_resize)
computes the same filter (Lanczos, a = 3, its support widened by the shrink factor, kernels normalised,
the source box in fractional pixels, source pixels outside the box used for the filter's support)
with AVX2/SSE4.1/NEON, about 4x faster, and it releases the GIL, so export threads scale. Its
results differ from Pillow's by fixed-point rounding: a level or two on photographs.

It is used for 8-bit RGB and greyscale images shrunk by less than ``2 * REDUCING_GAP``. Pillow keeps
everything else: other modes (alpha must be premultiplied, which Pillow does), and large shrinks, where
Pillow first reduces by whole factors (``reducing_gap``), which is faster than any single filter pass
over so many source pixels. Pillow is also the whole path on platforms the dependency has no wheel for
(see pyproject.toml), with the same geometry.
"""

from __future__ import annotations

import threading

from PIL import Image

try:
    import cykooz_resizer
except ImportError:  # no wheel for this platform: Pillow resamples everything
    cykooz_resizer = None

#: Pillow reduces by whole factors until the image is within this factor of the target, then filters:
#: at 3 the result is indistinguishable from filtering the full image (Pillow's documentation).
REDUCING_GAP = 3.0

#: Modes the SIMD resampler takes: no alpha, 8 bits per channel.
SIMD_MODES = ("RGB", "L")

#: One resizer per thread: a resizer keeps scratch buffers and is not to be shared while it works.
_local = threading.local()


def lanczos(image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image:
    """``box`` (left, top, right, bottom in ``image``'s pixels, fractions allowed) resampled to ``size``.

    The same contract as ``image.resize(size, LANCZOS, box=box, reducing_gap=REDUCING_GAP)``,
    including ``image.info`` carried over and a copy for the identity; a box reaching past the image
    by rounding is clipped to it.
    """
    if tuple(size) == image.size and tuple(box) == (0, 0, *image.size):
        return image.copy()
    left, top, right, bottom = box
    box = (left, top, min(right, image.width), min(bottom, image.height))
    shrink = max((box[2] - left) / size[0], (box[3] - top) / size[1])
    if cykooz_resizer is None or image.mode not in SIMD_MODES or shrink >= 2 * REDUCING_GAP:
        return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)
    return simd_lanczos(image, size, box)


def simd_lanczos(image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image:
    """:func:`lanczos` by cykooz.resizer, for an RGB or L ``image`` and a ``box`` inside it."""
    left, top, right, bottom = box
    options = cykooz_resizer.ResizeOptions(
        cykooz_resizer.ResizeAlg.convolution(cykooz_resizer.FilterType.lanczos3),
        crop_box=cykooz_resizer.CropBox(left, top, right - left, bottom - top),
    )
    result = Image.new(image.mode, size, None)  # no fill: every pixel is written
    _resizer().resize_pil(image, result, options)
    result.info.update(image.info)
    return result


def _resizer():
    resizer = getattr(_local, "resizer", None)
    if resizer is None:
        resizer = _local.resizer = cykooz_resizer.Resizer()
    return resizer
