"""ai-toolkit's job YAML (or JSON): ``config.process[0].datasets[]`` and ``train.batch_size``.

From ostris/ai-toolkit@27a03a91: ``toolkit/config_modules.py:DatasetConfig`` (defaults: ``resolution``
512, ``caption_ext`` ``.txt``, ``num_repeats`` 1, ``random_crop``/``square_crop`` off, ``buckets`` on,
``batch_size`` unset so ``TrainConfig.batch_size``, default 1, applies: ``toolkit/data_loader.py:
get_dataloader_from_datasets``) and ``preprocess_dataset_raw_config``, which splits a dataset whose
``resolution`` is a list into one dataset per resolution (so here one subset per resolution).
``AiToolkitDataset`` walks ``folder_path`` with its subfolders (hidden ones pruned) and overwrites
``bucket_tolerance`` with the model's ``get_bucket_divisibility()``, so the file's value is listed as ignored.
``train.gradient_accumulation_steps`` (``TrainConfig``, default 1; -1 accumulates a whole epoch) feeds the
epoch ledger; ai-toolkit trains on one GPU, so there is no process count.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.scan.configs.common import Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import Subset

#: Dataset keys read here (bucketing, folders, repeats, batch); the many others are listed as ignored.
MODELLED = ("folder_path", "dataset_path", "resolution", "num_repeats", "caption_ext", "random_crop", "square_crop")
MODELLED += ("batch_size", "buckets", "is_reg", "bucket_tolerance")


def is_ai_toolkit_document(document) -> bool:
    """A job file: ``config.process`` is a list."""
    config = document.get("config") if isinstance(document, dict) else None
    return isinstance(config, dict) and isinstance(config.get("process"), list)


def read_ai_toolkit(path: Path) -> TrainerConfig:
    """The datasets of the first process (one subset per dataset and resolution)."""
    path = Path(path)
    fields = Fields(path)
    document = fields.table("the file", load_document(path))
    if not is_ai_toolkit_document(document):
        raise fields.error("config.process", None, "a list of processes (an ai-toolkit job file)")
    processes = document["config"]["process"]
    if not processes:
        raise fields.error("config.process", processes, "at least one process")
    process = fields.table("config.process[0]", processes[0])
    fields.unknown("config.process[0].", process, ("datasets", "train"), "does not change bucketing")
    train_keys = ("batch_size", "gradient_accumulation_steps")
    fields.unknown("config.process[0].train.", process.get("train") or {}, train_keys, "does not change bucketing")
    for index in range(1, len(processes)):
        fields.ignore(f"config.process[{index}]", "only the first process is read")
    train = fields.table("config.process[0].train", process.get("train") or {})
    batch_size = fields.integer("config.process[0].train.batch_size", train.get("batch_size", 1), 1)
    datasets = process.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise fields.error("config.process[0].datasets", datasets, "a list of datasets")
    subsets = []
    for index, raw in enumerate(datasets):
        where = f"config.process[0].datasets[{index}]."
        dataset = fields.table(where.rstrip("."), raw)
        subsets.extend(_subsets(fields, path.parent, where, dataset, batch_size, len(subsets)))
        fields.unknown(where, dataset, MODELLED, "does not change bucketing")
    config = TrainerConfig("ai-toolkit", {}, subsets, batch_size, fields.ignored, path)
    config.grad_accum = _accumulation(fields, train.get("gradient_accumulation_steps"))
    return config


def _accumulation(fields: Fields, value) -> int | None:
    """``train.gradient_accumulation_steps``; -1 (one optimizer step per epoch) is noted, not counted."""
    if value == -1:
        fields.ignore("config.process[0].train.gradient_accumulation_steps", "-1 (a whole epoch) is not counted")
        return None
    return fields.count("config.process[0].train.gradient_accumulation_steps", value)


def _subsets(fields: Fields, base: Path, where: str, dataset: dict, batch_size: int, first: int) -> list[Subset]:
    key = "folder_path" if "folder_path" in dataset else "dataset_path"
    folder = fields.folder(f"{where}{key}", dataset.get(key), base)
    resolution = dataset.get("resolution", 512)
    sides = resolution if isinstance(resolution, list) else [resolution]
    if not sides:
        raise fields.error(f"{where}resolution", resolution, "a size or a list of sizes")
    own = {}
    for name in ("random_crop", "square_crop"):
        if name in dataset:
            own[name] = fields.boolean(f"{where}{name}", dataset[name])
    buckets = fields.boolean(f"{where}buckets", dataset.get("buckets", True))
    own_batch = dataset.get("batch_size")
    if "bucket_tolerance" in dataset:
        fields.ignore(f"{where}bucket_tolerance", "ai-toolkit replaces it with the model's bucket divisibility")
    caption = fields.text(f"{where}caption_ext", dataset.get("caption_ext", ".txt"))
    return [
        Subset(
            image_dir=folder,
            repeats=fields.integer(f"{where}num_repeats", dataset.get("num_repeats", 1), 1),
            name=f"{folder.name} @{side}",
            dataset=first + number,
            batch_size=batch_size if own_batch is None else fields.integer(f"{where}batch_size", own_batch, 1),
            caption_extension=caption if caption.startswith(".") else f".{caption}",
            enable_bucket=buckets,
            is_reg=fields.boolean(f"{where}is_reg", dataset.get("is_reg", False)),
            recursive=True,
            settings=(("resolution", fields.integer(f"{where}resolution", side, 1)), *own.items()),
        )
        for number, side in enumerate(sides)
    ]
