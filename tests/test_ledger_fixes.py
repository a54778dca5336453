"""The smallest fix for never-trained images: each option recounted, ranked by what it costs."""

from __future__ import annotations

import numpy as np

from aspectbucket import ledger
from aspectbucket.ledger_fixes import FREE_CROP, Fix, smallest_fixes

SQUARES_AND_ONE_TALL = ([1024, 1024, 1024, 1280, 1280, 832], [1024, 1024, 1024, 832, 832, 1280])


def test_onetrainer_lone_image_gets_every_fix_costed():
    book = ledger(*SQUARES_AND_ONE_TALL, "onetrainer", batch_size=2, subsets=list("aaaabb"), repeats={"a": 1, "b": 1})
    assert book.never_trained.tolist() == [5]
    (bucket,) = smallest_fixes(book)
    assert (bucket.bucket_width, bucket.bucket_height, bucket.images.tolist()) == (832, 1280, [5])
    by_kind = {fix.kind: fix for fix in bucket.fixes}
    assert set(by_kind) == {"repeats", "duplicate", "crop", "batch_size"}
    assert all(fix.never_trained_before == 1 and fix.never_trained_after == 0 for fix in bucket.fixes)
    assert bucket.best.kind == "duplicate" and bucket.best.extra_samples == 1
    assert by_kind["repeats"].description == "repeats of subset b to 2" and by_kind["repeats"].extra_samples == 2
    assert by_kind["batch_size"].description.startswith("batch size 1 (drops 0 samples, +4 steps")
    assert 0.3 < by_kind["crop"].trim < 0.4 and by_kind["crop"].extra_samples == 0
    assert by_kind["duplicate"].steps_after == book.steps_per_epoch + 1


def test_simpletuner_refusal_is_fixed_by_filling_the_small_bucket():
    book = ledger(*SQUARES_AND_ONE_TALL, "simpletuner", batch_size=2)
    assert book.counts.refused and book.never_trained_count == 6
    (bucket,) = smallest_fixes(book)
    assert bucket.best.kind == "duplicate" and bucket.best.never_trained_after == 0
    assert bucket.best.steps_before == 0 and bucket.best.steps_after == 4


def test_nothing_to_fix_gives_no_fixes():
    assert smallest_fixes(ledger(*SQUARES_AND_ONE_TALL, "kohya", batch_size=4)) == []
    assert smallest_fixes(ledger([], [], "onetrainer", batch_size=4)) == []


def test_a_slight_crop_ranks_as_free_and_a_fix_that_fails_ranks_last():
    def fix(kind, trim=0.0, extra=0, after=0, steps=(10, 10)):
        return Fix(kind, "", extra, trim, steps[0], steps[1], 1, after)

    ranked = sorted(
        [fix("duplicate", extra=1, steps=(10, 11)), fix("crop", trim=FREE_CROP / 2), fix("repeats", after=1)],
        key=lambda f: f.rank,
    )
    assert [f.kind for f in ranked] == ["crop", "duplicate", "repeats"]
    assert fix("crop", trim=0.2).rank > fix("duplicate", extra=5, steps=(10, 12)).rank


def test_fixes_cover_every_never_trained_bucket():
    rng = np.random.default_rng(5)
    widths = rng.integers(200, 3000, 300)
    heights = rng.integers(200, 3000, 300)
    book = ledger(widths, heights, "onetrainer", batch_size=4, processes=2)
    buckets = smallest_fixes(book)
    fixed = np.concatenate([b.images for b in buckets])
    assert sorted(fixed.tolist()) == book.never_trained.tolist()
    for bucket in buckets:
        assert bucket.best.never_trained_after < bucket.best.never_trained_before
