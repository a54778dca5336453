"""The epoch ledger by hand: batches formed one list at a time, as the trainers' own loops do.

The test oracle for :mod:`aspectbucket.geometry.ledger` and the "plain Python loop" its benchmark
runs beside it. Each rule builds its real batches from Python lists (a seeded ``random.Random``
shuffles where the trainer shuffles), then counts them; nothing is shared with the vectorised code.
"""

from __future__ import annotations

import random
from collections import defaultdict

from aspectbucket.geometry.ledger import BatchingRule, BatchSettings


def reference_epoch(image_bucket, repeats, rule: BatchingRule | str, settings: BatchSettings, seed: int = 0) -> dict:
    """One epoch of ``rule`` built batch by batch: per-bucket counts, per-image times trained, totals.

    NovelAI's epochs borrow batches from the next one, so it has no one-epoch reference here.
    """
    rule = BatchingRule(rule)
    if rule is BatchingRule.NOVELAI:
        raise ValueError("NovelAI epochs are not modelled by the reference")
    rng = random.Random(seed)
    size, ranks, accum = settings.batch_size, settings.processes, settings.grad_accum
    members: dict[int, list[int]] = defaultdict(list)
    for image, (bucket, count) in enumerate(zip(image_bucket, repeats, strict=True)):
        if bucket >= 0:
            members[int(bucket)].extend([image] * (int(count) + (1 if rule is BatchingRule.SIMPLETUNER else 0)))
    per_bucket: dict[int, dict] = {}
    times = [0] * len(image_bucket)
    if rule is BatchingRule.SIMPLETUNER and not _simpletuner_accepts(members, size * ranks * accum):
        return {"per_bucket": {}, "times": times, "steps": 0, "optimizer_steps": 0, "refused": True}
    length = 0
    for bucket, samples in sorted(members.items()):
        samples = list(samples)
        rng.shuffle(samples)
        batches, padded = [], 0
        if rule in (BatchingRule.KOHYA, BatchingRule.MUSUBI):
            batches = [samples[i : i + size] for i in range(0, len(samples), size)]
        elif rule is BatchingRule.AI_TOOLKIT:
            own = list(samples)
            for i in range(0, len(own), size):
                batch = own[i : i + size]
                cycle = 0
                while len(batch) < size:
                    batch.append(own[cycle % len(own)])
                    cycle += 1
                    padded += 1
                batches.append(batch)
        elif rule in (BatchingRule.ONETRAINER, BatchingRule.DIFFUSION_PIPE):
            group = size * ranks * (accum if rule is BatchingRule.DIFFUSION_PIPE else 1)
            while len(samples) >= group:
                batches.append(samples[:group])
                samples = samples[group:]
        elif rule is BatchingRule.SIMPLETUNER:
            # Images (not samples) are split over the processes, each padded with the bucket's last image
            # to the largest share; every image then counts its passes.
            images = sorted(set(samples))
            passes = len(samples) // len(images)
            share = -(-len(images) // ranks)
            if share * passes >= size:
                served = images + [images[-1]] * (share * ranks - len(images))
                padded = (share * ranks - len(images)) * passes
                for rank in range(ranks):
                    mine = [image for image in served[rank * share : (rank + 1) * share] for _ in range(passes)]
                    rng.shuffle(mine)
                    for i in range(0, len(mine), size):
                        batches.append(mine[i : i + size])
                        length += rank == 0
        trained = [image for batch in batches for image in batch]
        for image in trained:
            times[image] += 1
        per_bucket[bucket] = {
            "batches": len(batches),
            "trained": len(trained),
            "dropped": len(members[bucket]) - (len(trained) - padded),
            "padded": padded,
        }
    total = sum(row["batches"] for row in per_bucket.values())
    if rule is BatchingRule.DIFFUSION_PIPE:
        steps, optimizer = total * accum, total
    elif rule is BatchingRule.ONETRAINER:
        steps, optimizer = total, total // accum
    elif rule is BatchingRule.SIMPLETUNER:
        steps, optimizer = length, -(-length // accum)
    else:
        steps = -(-total // ranks)
        optimizer = -(-steps // accum)
    return {"per_bucket": per_bucket, "times": times, "steps": steps, "optimizer_steps": optimizer, "refused": False}


def _simpletuner_accepts(members: dict[int, list[int]], needed: int) -> bool:
    return all(len(samples) >= needed for samples in members.values() if samples)
