"""Plain-words explanations: the bucket table with its switching points, and why one image goes where it goes.

These functions return JSON-ready dicts (what ``--json`` prints) and sentences (what a person reads);
the CLI only lays them out.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import PlacementError
from aspectbucket.geometry.ratios import ratio_fraction
from aspectbucket.geometry.resize import covering_precrop
from aspectbucket.geometry.switching import switching_points
from aspectbucket.profiles import NoUpscaleRule, Profile, SdxlCoordinates, place_by_profile, profile_bucket_list

#: An image enlarged more than this is worth a warning (explain and report): it trains on invented detail.
UPSCALE_WARNING = 2.0
#: Losing more than this share of the resized image to the crop is worth a warning.
LOSS_WARNING = 0.20
#: Switching points closer than this (relative) are "the same" as the article's.
_ARTICLE_TOLERANCE = 1e-3
#: A pre-cropped box the trainer still cuts more than this of needs resizing to the bucket as well.
PRECROP_ROUNDING = 0.01
#: A bucket holding less than this share of the area budget is "capped" when max_bucket_reso = resolution.
CAPPED_SHARE = 0.9


def capped_buckets(options: BucketOptions, buckets) -> list[tuple[int, int, float]]:
    """Buckets shrunk by ``max_bucket_reso`` equal to the resolution: ``(width, height, share of budget)``.

    The classic SDXL mistake: ``--resolution 1024 --max-bucket-reso 1024`` stops every elongated bucket
    at 1024 on its long side, so 1024x256 trains on a quarter of the pixels a 2048x512 bucket would.
    Empty unless ``max_bucket_reso`` is at most the resolution's larger side; smallest share first.
    """
    if options.max_bucket_reso > max(options.resolution) or len(buckets) < 2:
        return []
    shares = [(int(width), int(height), int(width) * int(height) / options.max_area) for width, height in buckets]
    return sorted((row for row in shares if row[2] < CAPPED_SHARE), key=lambda row: (row[2], row[0]))


def capped_budget_warning(options: BucketOptions, buckets) -> str | None:
    """One line naming each capped bucket with its share of the budget, or ``None``."""
    capped = capped_buckets(options, buckets)
    if not capped:
        return None
    pairs: dict[tuple[int, int], list[str]] = {}
    for width, height, _share in capped:  # a landscape bucket and its portrait twin share one entry
        pairs.setdefault((max(width, height), min(width, height)), []).append(f"{width}x{height}")
    shares = ", ".join(
        f"{'/'.join(names)} {long * short / options.max_area:.0%}" for (long, short), names in pairs.items()
    )
    return (
        f"max_bucket_reso {options.max_bucket_reso} is not above the resolution "
        f"{options.resolution[0]}x{options.resolution[1]}, so elongated buckets hold less of the area budget: "
        f"{shares}; raise max_bucket_reso (SDXL trainings commonly use 2048)"
    )


def precrop_targets(widths, heights, bucket_widths, bucket_heights, options: BucketOptions, profile: Profile):
    """The pre-crop advice for images and their buckets: ``(boxes, resize)``.

    ``boxes`` are the centred boxes of each bucket's ratio, ``(left, top, right, bottom)``. Cropping to
    the box is enough when the trainer then only scales the image; without upscaling it is not: an image
    that fits the budget keeps its size and each side is floored to the step, so the box loses the same
    pixels again (300x300 -> bucket 256x256 cuts 27 % whatever the box). ``resize`` marks those images:
    placing the box is tried with the trainer's own rules, and where it still cuts more than
    :data:`PRECROP_ROUNDING` the advice adds "resize to the bucket size" when the trainer places an image
    of the bucket's size with less loss (a list trainer keeps it whole; a per-image one may not).
    """
    boxes = covering_precrop(widths, heights, bucket_widths, bucket_heights)
    box_widths, box_heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    box_loss = _loss(place_by_profile(box_widths, box_heights, options, profile))
    bucket_loss = _loss(place_by_profile(bucket_widths, bucket_heights, options, profile))
    return boxes, (box_loss > PRECROP_ROUNDING) & (bucket_loss < box_loss)


def _loss(placement) -> np.ndarray:
    """Crop loss per row; an image that cannot be placed loses everything."""
    return np.where(placement.ok, placement.lost_fraction, 1.0)


def bucket_table(options: BucketOptions, profile: Profile) -> list[dict]:
    """One row per bucket in list order: size, ratio, area, and the image ratios that land in it.

    ``from_w_over_h``/``to_w_over_h`` bound the image ratios placed there (``None`` at the ends);
    ``article_from_w_over_h``/``article_to_w_over_h`` are where the popular article's height/width
    midpoints would put the same bounds. ``list_index`` is the position in the trainer's whole list (the
    neighbours refer to it); it is not the number a trainer logs, which counts only buckets in use.
    """
    buckets = profile_bucket_list(profile, options)
    rows = []
    for index, (width, height) in enumerate(buckets.tolist()):
        rows.append(
            {
                "list_index": index,
                "width": width,
                "height": height,
                "ratio": ratio_fraction(width, height),
                "w_over_h": width / height,
                "h_over_w": height / width,
                "area": width * height,
                "budget_share": width * height / options.max_area,
                "from_w_over_h": None,
                "to_w_over_h": None,
                "article_from_w_over_h": None,
                "article_to_w_over_h": None,
                "narrower_neighbour": None,
                "wider_neighbour": None,
            }
        )
    for point in switching_points(buckets, profile.metric, profile.tie_break):
        rows[point.lower]["to_w_over_h"] = point.width_over_height
        rows[point.upper]["from_w_over_h"] = point.width_over_height
        rows[point.lower]["article_to_w_over_h"] = point.article_width_over_height
        rows[point.upper]["article_from_w_over_h"] = point.article_width_over_height
        rows[point.lower]["wider_neighbour"] = point.upper
        rows[point.upper]["narrower_neighbour"] = point.lower
    return rows


def explain_size(width, height, options: BucketOptions, profile: Profile) -> dict:
    """Everything about placing one ``width x height`` image, with the reasons in ``sentences``."""
    placement = place_by_profile([width], [height], options, profile)
    row = placement.row(0)
    row["bucket_list_index"] = row.pop("bucket_index")  # the whole list's index, not a logged number
    result = {"image": [width, height], "profile": profile.name, **row}
    if placement.error[0] != PlacementError.OK:
        result["sentences"] = [f"{_size(width, height)}: cannot be placed: {row['error']}."]
        result["warnings"] = [row["error"]]
        return result
    bucket = (row["bucket_width"], row["bucket_height"])
    resized = (row["resized_width"], row["resized_height"])
    boxes, resize = precrop_targets(
        np.array([width]), np.array([height]), np.array([bucket[0]]), np.array([bucket[1]]), options, profile
    )
    result["precrop_ltrb"] = boxes[0].tolist()
    result["precrop_resize_to"] = list(bucket) if resize[0] else None
    result["real_crop_top_left"] = [row["trim_top"], row["trim_left"]]
    sentences = [f"{_size(width, height)} (ratio {ratio_fraction(width, height)}, w/h {width / height:.3f})."]
    sentences += _why_this_bucket(width, height, bucket, options, profile, result)
    sentences.append(_resize_sentence(width, height, resized, row["scale"]))
    sentences.append(_trim_sentence(resized, bucket, row))
    sentences.append(_sdxl_sentence(row, profile))
    warnings = _warnings(width, height, row, profile)
    result["warnings"] = warnings
    sentences += [f"Warning: {warning}" for warning in warnings]
    if row["pixels_cut"]:
        sentences.append(
            _precrop_sentence(
                width, height, bucket, result["precrop_ltrb"], result["precrop_resize_to"], options.bucket_reso_steps
            )
        )
    result["sentences"] = sentences
    return result


def _precrop_sentence(width, height, bucket, box, resize_to, step: int) -> str:
    left, top, right, bottom = box
    ratio = ratio_fraction(bucket[0], bucket[1])
    if resize_to is None:
        return (
            f"To keep everything it trains on, pre-crop the image to the box left={left} top={top} "
            f"right={right} bottom={bottom} ({right - left}x{bottom - top}, ratio {ratio}): the trainer then "
            "only scales it."
        )
    target = _size(*resize_to)
    why = (
        f"without upscaling the trainer floors each side to a multiple of {step}, so only an image of exactly "
        "the bucket's size loses nothing"
    )
    if (right - left, bottom - top) == (width, height):
        return f"To keep everything it trains on, resize the image to {target} (or crop it to {target}): {why}."
    return (
        f"To keep everything it trains on, crop the image to the box left={left} top={top} right={right} "
        f"bottom={bottom} ({right - left}x{bottom - top}, ratio {ratio}), then resize it to {target} (or crop it to "
        f"{target} directly): {why}."
    )


def _size(width, height) -> str:
    return f"{width}x{height}"


def _why_this_bucket(width, height, bucket, options, profile, result) -> list[str]:
    ratio = width / height
    bucket_ratio = bucket[0] / bucket[1]
    if options.bucket_no_upscale and profile.no_upscale in (NoUpscaleRule.KOHYA, NoUpscaleRule.CORRECTED):
        return _why_without_upscale(width, height, bucket, options, profile)
    if result["bucket_list_index"] < 0:
        return [_why_own_bucket(bucket, options, profile)]
    table = bucket_table(options, profile)
    here = table[result["bucket_list_index"]]
    if (width, height) == tuple(bucket) and profile.exact_size_first:
        return [f"Bucket {_size(*bucket)}: the image has exactly a bucket's size, so it goes there unchanged."]
    sentences = [
        f"Bucket {_size(*bucket)} (ratio {ratio_fraction(*bucket)}, w/h {bucket_ratio:.3f}): the nearest "
        f"ratio in the list of {len(table)} buckets (off by {bucket_ratio - ratio:+.3f} in w/h)."
    ]
    neighbours = []
    if here["from_w_over_h"] is not None:
        neighbours.append(
            ("narrower", here["from_w_over_h"], here["article_from_w_over_h"], here["narrower_neighbour"])
        )
    if here["to_w_over_h"] is not None:
        neighbours.append(("wider", here["to_w_over_h"], here["article_to_w_over_h"], here["wider_neighbour"]))
    for side, switch, article, neighbour in neighbours:
        other = table[neighbour]
        text = (
            f"Images {side} than w/h {switch:.4f} (h/w {1 / switch:.4f}) go to "
            f"{_size(other['width'], other['height'])} instead."
        )
        if abs(article - switch) > _ARTICLE_TOLERANCE * switch:
            text += (
                f" (The popular article's height/width midpoint would put this switch at w/h {article:.4f}"
                f"{'; it would place this image differently' if _between(ratio, switch, article) else ''}.)"
            )
        sentences.append(text)
    return sentences


def _why_own_bucket(bucket, options, profile) -> str:
    """Images whose bucket is not from a list: per-image trainers, or an image that left the list."""
    if profile.per_row is not None:
        return (
            f"Bucket {_size(*bucket)}: {profile.trainer} draws one of several target resolutions for each "
            f"image (this one as the first image of the dataset), then takes the nearest bucket at it."
        )
    if profile.per_image is not None:
        return (
            f"Bucket {_size(*bucket)}: {profile.trainer} has no fixed list; it computes each image's bucket "
            f"from the image's own size and ratio (sides multiples of {options.bucket_reso_steps})."
        )
    if profile.no_upscale is NoUpscaleRule.MUSUBI:
        return (
            f"Bucket {_size(*bucket)}: no upscaling and the image fits the area budget, so it keeps its size "
            f"with each side floored to a multiple of {options.bucket_reso_steps}."
        )
    limit = f" or cut more than {profile.max_crop:.0%} of it" if profile.max_crop is not None else ""
    return (
        f"Bucket {_size(*bucket)}: a bucket of the image's own ratio instead of the list, because the nearest "
        f"listed bucket would enlarge it{limit}; sides are multiples of {options.bucket_reso_steps}, at most "
        f"{options.max_bucket_reso}, within the area budget."
    )


def _between(value: float, a: float, b: float) -> bool:
    return min(a, b) <= value <= max(a, b)


def _why_without_upscale(width, height, bucket, options, profile) -> list[str]:
    step = options.bucket_reso_steps
    if width * height > options.max_area:
        scale = math.sqrt(options.max_area / (width * height))
        first = (
            f"Bucket {_size(*bucket)}: no upscaling, so there is no bucket list; the image is over the area "
            f"budget {options.resolution[0]}x{options.resolution[1]}, so it is shrunk to about "
            f"{width * scale:.0f}x{height * scale:.0f} with one side rounded to a multiple of {step}, then both "
            f"sides are floored to multiples of {step}."
        )
    else:
        first = (
            f"Bucket {_size(*bucket)}: no upscaling, so there is no bucket list; the image fits the area "
            f"budget, so it keeps its size and each side is floored to a multiple of {step}."
        )
    return [first]


def _resize_sentence(width, height, resized, scale) -> str:
    if tuple(resized) == (width, height):
        return "Resize: none."
    verb = "enlarged" if scale > 1 else "shrunk"
    return f"Resize: {_size(width, height)} -> {_size(*resized)} ({verb}, scale {scale:.3f})."


def _trim_sentence(resized, bucket, row) -> str:
    parts = []
    for axis, (size, kept, start, near, far) in {
        "columns": (resized[0], bucket[0], row["trim_left"], "left", "right"),
        "rows": (resized[1], bucket[1], row["trim_top"], "top", "bottom"),
    }.items():
        cut = size - kept
        if cut > 0:
            parts.append(f"{cut} {axis} ({start} from the {near}, {cut - start} from the {far})")
    if not parts:
        return "Crop: nothing is cut."
    return f"Crop: {' and '.join(parts)} are cut, {row['lost_fraction'] * 100:.1f} % of the resized image."


def _sdxl_sentence(row, profile) -> str:
    real = (row["trim_top"], row["trim_left"])
    left, top = row["reported_crop_ltrb"][:2]
    if profile.sdxl_coordinates is SdxlCoordinates.LETTERBOX:
        reported = (_number(top), _number(left))
        if reported == real:
            return f"SDXL: crop_top_left {reported}, which is also the real crop."
        return (
            f"SDXL: the trainer reports crop_top_left {reported} (a letterbox position, sd-scripts issue 1443); "
            f"the real crop is {real}."
        )
    return f"SDXL: crop_top_left {real}, the real crop."


def _number(value: float):
    return int(value) if float(value).is_integer() else round(value, 3)


def _warnings(width, height, row, profile) -> list[str]:
    warnings = []
    if row["scale"] > UPSCALE_WARNING:
        warnings.append(f"enlarged {row['scale']:.2f}x: the model trains on interpolated detail.")
    if row["lost_fraction"] > LOSS_WARNING:
        warnings.append(f"{row['lost_fraction'] * 100:.0f} % of the resized image is cut away.")
    if row["step_loss"]:
        corrected = (row["corrected_width"], row["corrected_height"])
        gain = corrected[0] * corrected[1] / (row["bucket_width"] * row["bucket_height"]) - 1
        warnings.append(
            f"sd-scripts issue 731: its no-upscale rounding floors a whole step; a corrected rounding "
            f"gives bucket {_size(*corrected)} ({gain * 100:.0f} % more pixels)."
        )
    return warnings
