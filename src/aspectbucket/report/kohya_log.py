"""sd-scripts' own log lines about buckets and steps, predicted, to hold against a real training log.

The lines are the messages of ``kohya-ss/sd-scripts@48d368fa557731ad0488c07304dfeba8c07910eb``
``library/train_util.py:BaseDataset.make_buckets`` (bucket counts including repeats, mean aspect
error without repeats) and ``train_network.py:NetworkTrainer.train`` ("override steps" with
``--max_train_epochs``, then the "running training" block), without the logger's time and level
prefix. A bucket's number is its index among the buckets its dataset uses, sorted by
(width, height), as ``BucketManager.sort`` numbers them.
"""

from __future__ import annotations

import numpy as np

from aspectbucket.epoch_ledger import Ledger

#: sd-scripts' default ``--max_train_steps``.
DEFAULT_MAX_TRAIN_STEPS = 1600


def kohya_run_length(book: Ledger, max_train_epochs: int | None = None, max_train_steps: int | None = None):
    """``(max_train_steps, num_train_epochs)`` as ``train_network.py`` computes them.

    ``--max_train_epochs E`` overrides the steps with ``E x ceil(batches / processes / accumulation)``
    (batches of the whole dataloader before accelerate splits it); the epochs are then
    ``ceil(steps / updates per epoch)``.
    """
    settings = book.settings
    if max_train_epochs is not None:
        whole = int(book.counts.batches.sum())
        max_train_steps = max_train_epochs * -(-whole // (settings.processes * settings.grad_accum))
    elif max_train_steps is None:
        max_train_steps = DEFAULT_MAX_TRAIN_STEPS
    per_epoch = book.optimizer_steps_per_epoch
    return max_train_steps, (-(-max_train_steps // per_epoch) if per_epoch else 0)


def kohya_log_lines(book: Ledger, max_train_epochs: int | None = None, max_train_steps: int | None = None) -> list[str]:
    """The bucket and step lines sd-scripts would log for this ledger's dataset and settings."""
    lines = ["number of images (including repeats) / 各bucketの画像枚数（繰り返し回数を含む）"]
    rows = book.per_bucket_rows()
    numbers = _bucket_numbers(book)
    for number, row in zip(numbers, rows, strict=True):
        resolution = (row["bucket_width"], row["bucket_height"])
        lines.append(f"bucket {number}: resolution {resolution}, count: {row['samples']}")
    placed = book.image_bucket >= 0
    errors = np.abs(book.placement.ar_error[placed])
    mean_error = float(np.mean(errors)) if len(errors) else 0
    lines.append(f"mean ar error (without repeats): {mean_error}")
    steps, epochs = kohya_run_length(book, max_train_epochs, max_train_steps)
    if max_train_epochs is not None:
        lines.append(f"override steps. steps for {max_train_epochs} epochs is / 指定エポックまでのステップ数: {steps}")
    reg = book.regularization if book.regularization is not None else np.zeros(len(book.repeats), dtype=bool)
    train_samples = int(book.repeats[placed & ~reg].sum())
    lines += [
        "running training / 学習開始",
        f"  num train images * repeats / 学習画像の数×繰り返し回数: {train_samples}",
        "  num validation images * repeats / 学習画像の数×繰り返し回数: 0",
        f"  num reg images / 正則化画像の数: {book.reg_samples_before_expansion}",
        f"  num batches per epoch / 1epochのバッチ数: {book.steps_per_epoch}",
        f"  num epochs / epoch数: {epochs}",
        f"  batch size per device / バッチサイズ: {book.settings.batch_size}",
        f"  gradient accumulation steps / 勾配を合計するステップ数 = {book.settings.grad_accum}",
        f"  total optimization steps / 学習ステップ数: {steps}",
    ]
    return lines


def _bucket_numbers(book: Ledger) -> list[int]:
    """Each bucket row's number within its own dataset (rows are sorted by size, then dataset)."""
    if book.bucket_subset is None:
        return list(range(len(book.bucket_shapes)))
    seen: dict[str, int] = {}
    numbers = []
    for dataset in book.bucket_subset.tolist():
        numbers.append(seen.get(dataset, 0))
        seen[dataset] = numbers[-1] + 1
    return numbers
