"""One clip at a time, statement by statement as the trainers loop: the oracle for :mod:`.frames`.

Each function takes one clip and the same settings as its vectorised twin and returns
``(seen, items)`` where ``items`` lists ``(bucket_frames, [source frames read])`` in the trainer's order,
or ``None`` for ``seen`` where the trainer cannot read the clip. Plain Python: loops, Python floats,
``int()`` and ``round()`` where the trainers use them.
"""

from __future__ import annotations

import numpy as np


def musubi_reference(frames, target_frames, extraction, stride, sample, max_frames, source_fps, target_fps):
    """kohya-ss/musubi-tuner@30c658c4 VideoDataset.retrieve_latent_cache_batches with load_video."""
    targets = sorted({(f - 1) // 4 * 4 + 1 for f in target_frames})
    if extraction == "uniform" and sample == 1:
        extraction = "head"
    end = max(targets) if extraction == "head" else None
    loaded = []  # source index of each frame load_video returns
    if source_fps is None:
        for i in range(frames):
            if end is not None and i >= end:
                break
            loaded.append(i)
    else:
        delta = target_fps / source_fps
        running, previous = 0.0, -1
        for i in range(frames):
            index = int(running)
            running += delta
            if index == previous:
                continue
            previous = index
            if end is not None and index >= end:
                break
            loaded.append(i)
    count = len(loaded)
    windows = []
    if extraction == "head":
        windows = [(0, t) for t in targets if count >= t]
    elif extraction == "chunk":
        windows = [(i, t) for t in targets for i in range(0, count, t) if i + t <= count]
    elif extraction == "slide":
        windows = [(i, t) for t in targets if count >= t for i in range(0, count - t + 1, stride)]
    elif extraction == "uniform":
        for t in targets:
            if count >= t:
                windows += [(int(i), t) for i in np.linspace(0, count - t, sample, dtype=int)]
    elif extraction == "full" and count >= 1:
        t = (min(count, max_frames) - 1) // 4 * 4 + 1
        windows = [(0, t)]
    return count, [(t, loaded[start : start + t]) for start, t in windows]


def diffusion_pipe_reference(frames, fps, frame_buckets, model_fps, round_frames, middle=False):
    """tdrussell/diffusion-pipe@8f83dbf2 _metadata_map_fn, _find_closest_ar_bucket, PreprocessMediaFile."""
    if not fps > 0 or frames <= 0:
        return None, []
    converted = int(frames * model_fps / fps)
    buckets = sorted({*frame_buckets, 1})
    fitting = [b for b in buckets if b <= converted]
    if not fitting or (converted > 1 and fitting[-1] == 1):
        return converted, []
    bucket = fitting[-1]
    resampled = _torch_linspace_int32(frames - 1, converted)
    length = (bucket - 1) // round_frames * round_frames + 1
    start = int((converted - length) / 2) if middle else 0
    return converted, [(bucket, resampled[start : start + length])]


def _torch_linspace_int32(end: int, steps: int) -> list[int]:
    """torch.linspace(0, end, steps).to(int32), one value at a time with one float32 rounding each."""
    step = float(np.float32(np.float32(end) / np.float32(steps - 1))) if steps > 1 else 0.0
    values = []
    for i in range(steps):
        exact = step * i if i < steps // 2 else float(np.float32(end)) - step * (steps - 1 - i)
        values.append(int(np.float32(exact)) if steps > 1 else 0)
    return values


def ai_toolkit_reference(frames, fps, num_frames, auto, dataset_fps, trim_tail, tc, shrink):
    """ostris/ai-toolkit@27a03a91 get_auto_frame_count and load_and_process_video (random start = 0)."""
    if frames <= 0 or (auto and not fps > 0):
        return None, []
    if auto:
        desired = int(frames / fps * dataset_fps)
        desired = max(0, desired - 1) // tc * tc if trim_tail else desired // tc * tc
        num_frames = desired + 1
    last = frames - 1
    if auto and trim_tail:
        ratio = fps / dataset_fps if fps and fps > 0 else 1.0
        taken = [min(round(i * ratio), last) for i in range(num_frames)]
    elif shrink or frames < num_frames:
        interval = last / (num_frames - 1) if num_frames > 1 else 0
        taken = [min(round(i * interval), last) for i in range(num_frames)]
    else:
        step = max(1, round(fps / dataset_fps))
        if frames // step < num_frames:
            interval = last / (num_frames - 1) if num_frames > 1 else 0
            taken = [min(round(i * interval), last) for i in range(num_frames)]
        else:
            taken = [i * step for i in range(num_frames)]
    return frames, [(num_frames, [min(t, last) for t in taken])]


def simpletuner_reference(frames, num_frames, min_frames, max_frames, strategy, interval, trim):
    """bghira/SimpleTuner@bc8e6ab7 adjust_video_frames, meets_resolution_requirements, _compute_video_bucket."""
    if frames <= 0:
        return None, []
    adjusted = frames
    if trim == "8n+1" and frames % 8 != 1:
        adjusted = max((frames - 1) // 8 * 8 + 1, 1)
    elif trim == "17n+5" and frames > 1:
        while adjusted % 17 != 5:
            adjusted += 1
    minimum = num_frames if min_frames is None else min_frames
    if adjusted < minimum or (max_frames is not None and adjusted > max_frames):
        return adjusted, []
    if strategy == "resolution_frames":
        bucket = adjusted // interval * interval if interval else adjusted
        bucket = bucket if bucket > 0 else adjusted
        return adjusted, [(bucket, list(range(bucket)))]
    return adjusted, [(adjusted, list(range(adjusted)))]


def diffusion_pipe_listed_reference(width, height, converted, size_buckets):
    """tdrussell/diffusion-pipe@8f83dbf2 DirectoryDataset.__init__ (size_buckets sorted by frames, longest
    first; ratios deduplicated and sorted) and _find_closest_size_bucket; ``None`` when none fits."""
    listed = sorted((tuple(bucket) for bucket in size_buckets), key=lambda bucket: bucket[-1], reverse=True)
    ratios = sorted({round(w / h, 3) for w, h, _ in listed})
    distances = np.abs(np.log(width / height) - np.log(np.array(ratios)))
    for index in np.argsort(distances, kind="stable"):
        bucket = listed[index]
        if converted > 1 and bucket[-1] == 1:
            continue
        if converted >= bucket[-1]:
            return bucket
    return None
