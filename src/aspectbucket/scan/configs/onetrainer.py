"""OneTrainer's training config JSON (``resolution``, ``batch_size``, its concepts inline or in
``concept_file_name``) or a concepts JSON on its own.

From Nerogar/OneTrainer@23df3832 ``modules/util/config/TrainConfig.py`` (``resolution`` is text, "512" or
"512,768,1024"; ``batch_size`` 1; ``aspect_ratio_bucketing`` and ``latent_caching`` on;
``concept_file_name`` ``training_concepts/concepts.json``, relative to OneTrainer's folder) and
``ConceptConfig.py`` (``path``, ``enabled``, ``type``: only ``STANDARD`` concepts train, ``include_subdirectories``
off, ``balancing`` 1.0 with ``balancing_strategy`` ``REPEATS``; ``image.enable_resolution_override`` with
``image.resolution_override`` gives a concept its own resolution). With latent caching each image keeps the
resolution it drew once; without it mgds draws again every epoch (the placement shows the first draw).
For the epoch ledger: ``gradient_accumulation_steps`` (1), and with ``multi_gpu`` on the GPUs listed in
``device_indexes`` ("0,1"; empty means every GPU there is, which a file cannot tell) as
Nerogar/OneTrainer@00f380ac ``modules/util/config/TrainConfig.py:TrainConfig.default_values`` names them.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.scan.configs.common import Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import Subset

CONCEPT_MODELLED = ("path", "name", "enabled", "type", "include_subdirectories", "balancing", "balancing_strategy")
CONCEPT_MODELLED += ("image",)
TRAINING_MODELLED = ("resolution", "batch_size", "aspect_ratio_bucketing", "latent_caching", "concepts")
TRAINING_MODELLED += ("concept_file_name", "gradient_accumulation_steps", "multi_gpu", "device_indexes")


def is_concepts_document(document) -> bool:
    """A list of concepts: entries with a ``path`` and OneTrainer's ``balancing`` or ``image`` keys."""
    return isinstance(document, list) and any(
        isinstance(entry, dict) and "path" in entry and ({"balancing", "image", "include_subdirectories"} & set(entry))
        for entry in document
    )


def is_training_document(document) -> bool:
    """A training config: ``concept_file_name`` or ``concepts`` beside ``training_method`` or ``model_type``."""
    return (
        isinstance(document, dict)
        and ("concept_file_name" in document or "concepts" in document)
        and ("training_method" in document or "model_type" in document)
    )


def read_onetrainer(path: Path) -> TrainerConfig:
    """A training config with its concepts, or a concepts file alone (OneTrainer's defaults for the rest)."""
    path = Path(path)
    fields = Fields(path)
    document = load_document(path)
    if is_concepts_document(document):
        return _read(fields, path, _training(fields, {}), document, path.parent)
    if not is_training_document(document):
        raise fields.error("the file", type(document).__name__, "a OneTrainer config or concepts list")
    training = _training(fields, document)
    fields.unknown("", document, TRAINING_MODELLED, "does not change bucketing")
    concepts = document.get("concepts")
    base = path.parent
    if concepts is None:
        name = document.get("concept_file_name", "training_concepts/concepts.json")
        concepts_path = _concepts_path(fields, path, name)
        concepts, fields_of_concepts = load_document(concepts_path), Fields(concepts_path)
        fields_of_concepts.ignored[:0] = fields.ignored
        fields = fields_of_concepts
        base = _onetrainer_root(path, concepts_path)
    return _read(fields, path, training, concepts, base)


def _training(fields: Fields, document: dict) -> dict:
    """The training config's values that bucketing needs, checked; OneTrainer's defaults where absent."""
    settings = {}
    if "resolution" in document:
        settings["target_resolution"] = _sides(fields, "resolution", document["resolution"])
    return {
        "settings": settings,
        "batch_size": fields.integer("batch_size", document.get("batch_size", 1), 1),
        "bucketing": fields.boolean("aspect_ratio_bucketing", document.get("aspect_ratio_bucketing", True)),
        "caching": fields.boolean("latent_caching", document.get("latent_caching", True)),
        "grad_accum": fields.count("gradient_accumulation_steps", document.get("gradient_accumulation_steps")),
        "processes": _gpus(fields, document),
    }


def _gpus(fields: Fields, document: dict) -> int | None:
    """The GPUs OneTrainer trains on: 1 without ``multi_gpu``; with it, those ``device_indexes`` lists,
    or ``None`` (unknown: every GPU of the machine) when the list is empty."""
    if not fields.boolean("multi_gpu", document.get("multi_gpu", False)):
        return 1 if "multi_gpu" in document else None
    indexes = fields.text("device_indexes", document.get("device_indexes", ""))
    listed = [part for part in indexes.split(",") if part.strip()]
    if not listed:
        fields.ignore("device_indexes", "empty: OneTrainer uses every GPU of the machine; give --processes")
    return len(listed) or None


def _concepts_path(fields: Fields, config: Path, value) -> Path:
    candidate = fields.path("concept_file_name", fields.text("concept_file_name", value))
    places = [candidate] if candidate.is_absolute() else [config.parent / candidate, config.parent.parent / candidate]
    for place in [*places, Path.cwd() / candidate]:
        if place.is_file():
            return place
    raise fields.error("concept_file_name", value, "the path of an existing concepts JSON")


def _onetrainer_root(config: Path, concepts: Path) -> Path:
    """OneTrainer resolves relative concept paths from its own folder: the concepts file's grandparent."""
    return concepts.parent.parent if concepts.parent.name == "training_concepts" else config.parent


def _read(fields: Fields, source: Path, training: dict, concepts, base: Path) -> TrainerConfig:
    if not isinstance(concepts, list):
        raise fields.error("concepts", concepts, "a list of concepts")
    settings, batch_size, bucketing = training["settings"], training["batch_size"], training["bucketing"]
    redraw = "latent_caching is off: mgds draws each image's resolution again every epoch"
    warnings = [] if training["caching"] else [redraw]
    if not training["caching"]:
        settings = {**settings, "latent_caching": False}
    subsets = []
    for index, raw in enumerate(concepts):
        where = f"concepts[{index}]."
        concept = fields.table(f"concepts[{index}]", raw)
        if not fields.boolean(f"{where}enabled", concept.get("enabled", True)):
            fields.ignore(f"concepts[{index}]", "disabled")
            continue
        if concept.get("type", "STANDARD") != "STANDARD":
            fields.ignore(f"concepts[{index}]", f"a {concept.get('type')} concept: not trained")
            continue
        own = dict(settings)
        image = fields.table(f"{where}image", concept.get("image") or {})
        if fields.boolean(f"{where}image.enable_resolution_override", image.get("enable_resolution_override", False)):
            override = image.get("resolution_override")
            own["target_resolution"] = _sides(fields, f"{where}image.resolution_override", override)
        folder = fields.folder(f"{where}path", concept.get("path"), base)
        subsets.append(
            Subset(
                image_dir=folder,
                repeats=_repeats(fields, where, concept),
                name=str(concept.get("name") or folder.name),
                dataset=len(subsets),
                batch_size=batch_size,
                caption_extension=".txt",
                enable_bucket=bucketing,
                recursive=_subfolders(fields, where, concept),
                settings=tuple(own.items()),
            )
        )
        fields.unknown(where, concept, CONCEPT_MODELLED, "does not change bucketing")
    config = TrainerConfig("onetrainer", settings, subsets, batch_size, fields.ignored, source, warnings)
    config.processes, config.grad_accum = training["processes"], training["grad_accum"]
    return config


def _subfolders(fields: Fields, where: str, concept: dict) -> bool:
    return fields.boolean(f"{where}include_subdirectories", concept.get("include_subdirectories", False))


def _sides(fields: Fields, key: str, value) -> tuple[int, ...]:
    """OneTrainer's resolution text: one side or several, comma-separated ("512,768,1024")."""
    parts = str(value).split(",") if isinstance(value, str | int) and not isinstance(value, bool) else []
    try:
        sides = tuple(int(part) for part in parts)
    except ValueError:
        sides = ()
    if not sides or min(sides) < 1:
        raise fields.error(key, value, 'one side or several, comma-separated ("512" or "512,768,1024")')
    return sides


def _repeats(fields: Fields, where: str, concept: dict) -> int:
    """``balancing`` as whole repeats (strategy ``REPEATS``); ``SAMPLES`` and fractions are listed as ignored."""
    strategy = concept.get("balancing_strategy", "REPEATS")
    balancing = fields.number(f"{where}balancing", concept.get("balancing", 1.0), positive=True)
    if strategy != "REPEATS":
        fields.ignore(f"{where}balancing_strategy", f"{strategy}: a sample count per epoch; counted as one repeat")
        return 1
    if balancing != int(balancing):
        fields.ignore(f"{where}balancing", f"{balancing} repeats: fractions are rounded to {max(1, round(balancing))}")
    return max(1, round(balancing))
