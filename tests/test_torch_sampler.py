"""The torch batch sampler and dataset: policies, ranks, resume, pixels, and a real two-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aspectbucket import BucketOptions, place
from aspectbucket.geometry.batches import BatchPolicy, dropped_and_padded, steps_per_epoch
from aspectbucket.plan import plan_dataset
from aspectbucket.scan import scan

if os.environ.get("CI"):  # CI installs torch: a missing torch must fail there, not skip
    import torch
else:
    torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader

from aspectbucket.torch import BucketBatchSampler, BucketDataset, Draw

OPTIONS = BucketOptions(resolution=(256, 256), min_bucket_reso=128, max_bucket_reso=512, bucket_reso_steps=64)
# 17 images over 4 buckets of the 256x256 grid, and one placement failure (a zero side)
SIZES = [(300, 300)] * 7 + [(400, 240)] * 5 + [(240, 400)] * 3 + [(520, 200)] * 2 + [(0, 10)]


def coordinate_image(width: int, height: int) -> Image.Image:
    """R = x % 256, G = y % 256, B = x // 256: every pixel says where it was."""
    y, x = np.mgrid[0:height, 0:width]
    return Image.fromarray(np.stack([x % 256, y % 256, x // 256], axis=-1).astype(np.uint8))


@pytest.fixture(scope="module")
def placement():
    widths, heights = zip(*SIZES, strict=True)
    return place(widths, heights, OPTIONS)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory, placement) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, (width, height) in enumerate(SIZES):
        path = folder / f"{index:02d}.png"
        if width and height:
            coordinate_image(width, height).save(path)
        paths.append(path)
    return paths


def sampler(placement, policy="short", batch_size=2, **options) -> BucketBatchSampler:
    options.setdefault("num_replicas", 1)
    options.setdefault("rank", 0)
    return BucketBatchSampler.from_placement(placement, batch_size, policy=policy, **options)


def bucket_counts(placement, repeats) -> np.ndarray:
    ok = placement.ok
    shapes = np.stack([placement.bucket_width[ok], placement.bucket_height[ok]], axis=1)
    _, inverse = np.unique(shapes, axis=0, return_inverse=True)
    return np.bincount(inverse.reshape(-1), weights=np.asarray(repeats)[ok]).astype(int)


@pytest.mark.parametrize("policy", list(BatchPolicy))
@pytest.mark.parametrize("batch_size", [1, 2, 3, 4])
def test_length_is_steps_per_epoch(placement, policy, batch_size):
    repeats = np.arange(len(SIZES)) % 3 + 1
    batches = sampler(placement, policy, batch_size, repeats=repeats)
    counts = bucket_counts(placement, repeats)
    assert len(batches) == steps_per_epoch(counts, batch_size, policy) == len(list(batches))


@pytest.mark.parametrize("policy", list(BatchPolicy))
def test_each_policy_batches_one_bucket_at_a_time(placement, policy):
    batches = list(sampler(placement, policy, batch_size=3, repeats=2))
    own = {(int(w), int(h)) for w, h in zip(placement.bucket_width, placement.bucket_height, strict=True)}
    seen = Counter(draw.image for batch in batches for draw in batch)
    counts = bucket_counts(placement, np.full(len(SIZES), 2))
    dropped, padded = dropped_and_padded(counts, 3, policy)
    assert sum(seen.values()) == 2 * 17 - dropped + padded
    assert 17 not in seen  # the placement failure is never drawn
    for batch in batches:
        assert len({(draw.width, draw.height) for draw in batch}) == 1 and 1 <= len(batch) <= 3
        if policy is not BatchPolicy.MERGE:
            image = batch[0].image
            own_bucket = (placement.bucket_width[image], placement.bucket_height[image])
            assert (batch[0].width, batch[0].height) == own_bucket
        assert (batch[0].width, batch[0].height) in own
    if policy is BatchPolicy.SHORT:
        assert seen == Counter({image: 2 for image in range(17)})
    if policy is BatchPolicy.PAD:
        assert all(len(batch) == 3 for batch in batches) and all(seen[image] >= 2 for image in range(17))


@pytest.mark.parametrize("policy", list(BatchPolicy))
@pytest.mark.parametrize("num_replicas", [2, 3])
def test_ranks_step_in_lock_step_and_share_the_dataset(placement, policy, num_replicas):
    ranks = [sampler(placement, policy, num_replicas=num_replicas, rank=rank) for rank in range(num_replicas)]
    runs = [list(rank_sampler) for rank_sampler in ranks]
    counts = bucket_counts(placement, np.ones(len(SIZES)))
    steps = steps_per_epoch(counts, 2, policy, num_replicas)
    assert [len(run) for run in runs] == [len(each) for each in ranks] == [steps] * num_replicas
    for step_batches in zip(*runs, strict=True):
        assert len({(batch[0].width, batch[0].height) for batch in step_batches}) == 1
    everything = Counter(draw.image for run in runs for batch in run for draw in batch)
    dropped, padded = dropped_and_padded(counts, 2, policy, num_replicas)
    assert sum(everything.values()) == 17 - dropped + padded
    if padded == 0:
        assert max(everything.values()) == 1  # no image twice in an epoch
    if policy is not BatchPolicy.DROP:
        assert set(everything) == set(range(17))


def test_epochs_reshuffle_and_seeds_repeat(placement):
    first = sampler(placement, seed=1)
    order = [[draw.image for draw in batch] for batch in first]
    again = [[draw.image for draw in batch] for batch in sampler(placement, seed=1)]
    first.set_epoch(1)
    other = [[draw.image for draw in batch] for batch in first]
    assert order == again and order != other


@pytest.mark.parametrize("policy", list(BatchPolicy))
def test_resume_mid_epoch_gives_the_rest_of_the_epoch(placement, policy):
    whole = sampler(placement, policy, seed=9)
    whole.set_epoch(3)
    expected = list(whole)
    interrupted = sampler(placement, policy, seed=9)
    interrupted.set_epoch(3)
    iterator = iter(interrupted)
    done = [next(iterator) for _ in range(3)]
    state = json.loads(json.dumps(interrupted.state_dict()))  # it survives a checkpoint file
    resumed = sampler(placement, policy, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(3)  # a training loop calls this again; the same epoch keeps the position
    assert done + list(resumed) == expected
    resumed.set_epoch(4)
    assert len(list(resumed)) == len(expected)


def test_resume_refuses_other_settings(placement):
    state = sampler(placement, "short", seed=1).state_dict()
    with pytest.raises(ValueError, match="policy 'short' \\(now 'pad'\\)"):
        sampler(placement, "pad", seed=1).load_state_dict(state)


def test_bad_arguments_name_the_problem(placement):
    with pytest.raises(ValueError, match=r"rank 2 is outside 0\.\.1"):
        sampler(placement, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="'smallest' is not one of"):
        sampler(placement, "smallest")
    with pytest.raises(ValueError, match="pixel format 'half'"):
        BucketDataset(["a.png"] * len(SIZES), placement, pixel_format="half")
    with pytest.raises(ValueError, match="cover rounding 'floor' is not one of: half-up"):
        BucketDataset(["a.png"] * len(SIZES), placement, cover_rounding="floor")


def test_without_a_process_group_there_is_one_process(placement):
    batches = BucketBatchSampler.from_placement(placement, 2)
    assert (batches.num_replicas, batches.rank) == (1, 0)


def test_dataset_returns_the_window_and_sdxl_sizes(placement, image_paths):
    dataset = BucketDataset(image_paths, placement)
    item = dataset[15]  # 520x200 in its bucket
    bucket_w, bucket_h = int(placement.bucket_width[15]), int(placement.bucket_height[15])
    assert item["pixels"].shape == (3, bucket_h, bucket_w) and item["pixels"].dtype == torch.float32
    assert float(item["pixels"].min()) >= -1.0 and float(item["pixels"].max()) <= 1.0
    assert item["original_size"].tolist() == [200, 520]
    assert item["target_size"].tolist() == [bucket_h, bucket_w]
    assert item["crop_top_left"].tolist() == [int(placement.trim_top[15]), int(placement.trim_left[15])]


def test_random_crop_and_flip_report_the_real_offset(placement, image_paths, tmp_path):
    # an image already of its resized size: the window is copied pixel for pixel, so its coordinates show
    # exactly where it was cut
    widths, heights = [320], [256]
    one = place(widths, heights, OPTIONS)
    assert (one.resized_width[0], one.resized_height[0]) == (320, 256)
    path = tmp_path / "wide.png"
    coordinate_image(320, 256).save(path)
    dataset = BucketDataset([path], one, random_crop=True, flip_probability=0.5, seed=4, pixel_format="uint8")
    bucket_w = int(one.bucket_width[0])
    flips = set()
    for slot in range(12):
        item = dataset[Draw(0, bucket_w, int(one.bucket_height[0]), epoch=0, slot=slot)]
        pixels = item["pixels"].numpy().astype(int)
        x = pixels[0] + 256 * pixels[2]
        top, left = item["crop_top_left"].tolist()
        flipped = x[0, 0] > x[0, -1]
        flips.add(flipped)
        # the window's columns, in the (flipped when flipped) resized image, start at the reported left
        columns = 320 - 1 - x[0] if flipped else x[0]
        assert columns.tolist() == list(range(left, left + bucket_w))
        assert pixels[1][:, 0].tolist() == list(range(top, top + int(one.bucket_height[0])))
        again = dataset[Draw(0, bucket_w, int(one.bucket_height[0]), 0, slot)]
        assert again["crop_top_left"].tolist() == [top, left]
    assert flips == {True, False}


def test_merged_draws_are_cropped_to_the_batch_bucket(placement, image_paths):
    dataset = BucketDataset(image_paths, placement, pixel_format="uint8")
    item = dataset[Draw(15, 256, 256, epoch=0, slot=0)]  # a 520x200 image merged into the square bucket
    assert item["pixels"].shape == (3, 256, 256) and item["pixels"].dtype == torch.uint8
    assert item["target_size"].tolist() == [256, 256]
    assert item["crop_top_left"].tolist() == [0, (666 - 256) // 2]  # covers at 666x256, centred


def test_a_placement_from_other_sizes_is_refused(placement, image_paths):
    swapped = place([200], [520], OPTIONS)
    with pytest.raises(ValueError, match="opens as 520x200 but was placed as 200x520"):
        BucketDataset([image_paths[15]], swapped)[0]
    with pytest.raises(ValueError, match="has no bucket"):
        BucketDataset(image_paths, placement)[17]


@pytest.mark.parametrize("policy", ["merge", "pad"])
def test_dataloader_stacks_batches(placement, image_paths, policy):
    loader = DataLoader(BucketDataset(image_paths, placement), batch_sampler=sampler(placement, policy, 3))
    steps = 0
    for batch in loader:
        steps += 1
        size, height, width = batch["pixels"].shape[0], *batch["pixels"].shape[2:]
        assert batch["target_size"].tolist() == [[height, width]] * size
        assert batch["original_size"].shape == batch["crop_top_left"].shape == (size, 2)
    assert steps == len(loader.batch_sampler)


def test_a_scanned_kohya_folder_trains_its_repeats_and_skips_broken_files(tmp_path):
    folder = tmp_path / "train" / "3_sks dog"
    folder.mkdir(parents=True)
    for index, (width, height) in enumerate([(300, 300), (400, 240), (300, 310)]):
        coordinate_image(width, height).save(folder / f"{index}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    plan = plan_dataset(scan(tmp_path / "train", use_cache=False), "kohya", {"resolution": (256, 256)})
    batches = BucketBatchSampler.from_plan(plan, 2)
    dataset = BucketDataset.from_plan(plan)
    broken = [str(path) for path in plan.scan.paths].index(str(folder / "broken.png"))
    seen = Counter()
    for batch in DataLoader(dataset, batch_sampler=batches):
        seen.update(batch["image"].tolist())
    assert seen == Counter({image: 3 for image in range(4) if image != broken})


def test_workers_load_the_same_random_crops_and_flips(placement, image_paths):
    dataset = BucketDataset(image_paths, placement, random_crop=True, flip_probability=0.5, seed=2)

    def epoch(workers: int) -> list:
        loader = DataLoader(dataset, batch_sampler=sampler(placement, seed=3), num_workers=workers)
        return [(batch["pixels"], batch["crop_top_left"]) for batch in loader]

    for (pixels, crop), (worker_pixels, worker_crop) in zip(epoch(0), epoch(2), strict=True):
        assert torch.equal(pixels, worker_pixels) and torch.equal(crop, worker_crop)


RANK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from aspectbucket import BucketOptions, place
    from aspectbucket.torch import BucketBatchSampler, BucketDataset

    arguments = json.loads(sys.argv[1])
    dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE from the environment
    placement = place(arguments["widths"], arguments["heights"], BucketOptions(**arguments["options"]))
    sampler = BucketBatchSampler.from_placement(placement, 2, policy=arguments["policy"], seed=11)
    sampler.set_epoch(2)
    loader = DataLoader(BucketDataset(arguments["paths"], placement), batch_sampler=sampler)
    shapes, images = [], []
    for batch in loader:
        shapes.append(list(batch["pixels"].shape[2:]))
        images.extend(batch["image"].tolist())
    result = {"rank": sampler.rank, "replicas": sampler.num_replicas, "length": len(sampler),
              "shapes": shapes, "images": images}
    everyone = [None, None]
    dist.all_gather_object(everyone, result)
    with open(arguments["out"], "w") as handle:
        json.dump(everyone, handle)
    dist.destroy_process_group()
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("policy", ["short", "merge"])
def test_two_processes_with_gloo_step_together(placement, image_paths, tmp_path, policy):
    widths, heights = zip(*SIZES[:17], strict=True)
    environment = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    processes = []
    for rank in range(2):
        arguments = {
            "widths": widths,
            "heights": heights,
            "policy": policy,
            "paths": [str(path) for path in image_paths[:17]],
            "out": str(tmp_path / f"{rank}.json"),
            "options": {
                "resolution": [256, 256],
                "min_bucket_reso": 128,
                "max_bucket_reso": 512,
                "bucket_reso_steps": 64,
            },
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", RANK_SCRIPT, json.dumps(arguments)],
                env={**environment, "RANK": str(rank)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [process.communicate(timeout=180)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert [process.returncode for process in processes] == [0, 0], outputs
    for rank in range(2):
        first, second = json.loads((tmp_path / f"{rank}.json").read_text())
        assert (first["rank"], second["rank"], first["replicas"]) == (0, 1, 2)
        assert first["length"] == second["length"] == len(first["shapes"]) == len(second["shapes"])
        assert first["shapes"] == second["shapes"]
        everything = first["images"] + second["images"]
        _, padded = dropped_and_padded(bucket_counts(placement, np.ones(len(SIZES))), 2, policy, 2)
        assert set(everything) == set(range(17)) and len(everything) == 17 + padded


@pytest.mark.parametrize("policy", ["kohya", "short"])
def test_many_steps_draw_each_sample_once_in_its_bucket_across_resumes(policy):
    """Thousands of steps, so ``Draw`` tuples made a few steps at a time cross many groups: every
    slot of the epoch once, in order, each draw in its image's bucket, and a resume at a step inside
    a group gives the same rest of the epoch."""
    rng = np.random.default_rng(5)
    widths, heights = rng.integers(128, 900, 3000), rng.integers(128, 900, 3000)
    placement = place(widths, heights, OPTIONS)
    whole = list(sampler(placement, policy, batch_size=3, repeats=2, seed=4))
    draws = [draw for batch in whole for draw in batch]
    assert sorted(draw.slot for draw in draws) == list(range(2 * int(placement.ok.sum())))
    assert Counter(draw.image for draw in draws) == dict.fromkeys(np.flatnonzero(placement.ok).tolist(), 2)
    for batch in whole:
        assert len({(draw.width, draw.height) for draw in batch}) == 1
        assert all(
            (placement.bucket_width[draw.image], placement.bucket_height[draw.image]) == (draw.width, draw.height)
            for draw in batch
        )
    interrupted = sampler(placement, policy, batch_size=3, repeats=2, seed=4)
    iterator = iter(interrupted)
    done = [next(iterator) for _ in range(1001)]
    resumed = sampler(placement, policy, batch_size=3, repeats=2, seed=4)
    resumed.load_state_dict(interrupted.state_dict())
    assert done + list(resumed) == whole
