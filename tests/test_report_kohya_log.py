"""sd-scripts' bucket and step log lines, predicted from the ledger and held against its reference runs."""

from __future__ import annotations

import numpy as np
import pytest

from aspectbucket import ledger
from aspectbucket.report.kohya_log import kohya_log_lines
from conftest import kohya_case_ledger, load_vectors

CASES = load_vectors("batching")["cases"]


@pytest.mark.parametrize("number", [i for i, c in enumerate(CASES) if c["trainer"] == "kohya"])
def test_bucket_lines_match_the_reference_buckets(number):
    case = CASES[number]
    lines = kohya_log_lines(kohya_case_ledger(case))
    bucket_lines = [line for line in lines if line.startswith("bucket ")]
    expected = [
        f"bucket {i}: resolution ({row['bucket'][0]}, {row['bucket'][1]}), count: {row['images']}"
        for i, row in enumerate(case["batching"]["per_bucket"])
    ]
    assert bucket_lines == expected
    placed = [p for p in case["placements"] if p["bucket"]]
    errors = [abs(p["bucket"][0] / p["bucket"][1] - p["image"][0] / p["image"][1]) for p in placed]
    mean_line = next(line for line in lines if line.startswith("mean ar error"))
    assert float(mean_line.rsplit(": ", 1)[1]) == pytest.approx(np.mean(errors), rel=1e-12)
    batching = case["batching"]
    assert f"  num train images * repeats / 学習画像の数×繰り返し回数: {batching['num_train_images']}" in lines
    assert f"  num reg images / 正則化画像の数: {batching['num_reg_images_before_expansion']}" in lines


@pytest.mark.parametrize("number", [0, 3, 9])
def test_step_lines_match_every_variant(number):
    case = CASES[number]
    for variant in case["batching"]["variants"]:
        book = kohya_case_ledger(case, variant["world_size"], variant["grad_accum"])
        by_steps = kohya_log_lines(book, max_train_steps=1600)
        assert f"  num batches per epoch / 1epochのバッチ数: {variant['dataloader_len_per_process'][0]}" in by_steps
        epochs = variant["num_train_epochs_if_max_train_steps_1600"]
        assert f"  num epochs / epoch数: {epochs}" in by_steps
        assert "  total optimization steps / 学習ステップ数: 1600" in by_steps
        assert by_steps == kohya_log_lines(book)  # 1600 is sd-scripts' default
        by_epochs = kohya_log_lines(book, max_train_epochs=10)
        steps = variant["max_train_steps_if_max_train_epochs_10"]
        assert f"override steps. steps for 10 epochs is / 指定エポックまでのステップ数: {steps}" in by_epochs
        assert f"  total optimization steps / 学習ステップ数: {steps}" in by_epochs


def test_an_empty_dataset_logs_no_buckets():
    lines = kohya_log_lines(ledger([], [], "kohya"))
    assert lines[1] == "mean ar error (without repeats): 0"
    assert "  num epochs / epoch数: 0" in lines
