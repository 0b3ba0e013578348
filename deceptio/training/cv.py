"""Speaker-grouped cross-validation of every variant and the bias baselines, in the same folds."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig
from deceptio.features.config import LEGACY_FEATURES
from deceptio.modeling.card import ModelInput
from deceptio.modeling.images import feature_images, stack_images
from deceptio.modeling.models import ModelConfig, as_network
from deceptio.modeling.scoring import recording_logit, sigmoid
from deceptio.modeling.variants import Variant, get_variant
from deceptio.training.data import ClipFeatures
from deceptio.training.metrics import fit_temperature
from deceptio.training.report import clip_labels, finish_report
from deceptio.training.train import TrainConfig, fit

if TYPE_CHECKING:
    from deceptio.serving.detector import Detector

__all__ = ["CVConfig", "cross_validate", "evaluate_weights", "make_folds", "fold_assignments_sha256", "variant_images",
           "screening_protocol", "fold_logits", "crossfit_calibrate", "cv_protocol", "FitJob", "FitExecutor",
           "run_fits_locally"]


@dataclass(frozen=True)
class CVConfig:
    """Repeated speaker-grouped K-fold."""

    folds: int = 5
    repeats: int = 5  # each repeat reshuffles which speakers share a fold
    first_seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2 or self.repeats < 1:
            raise ParameterError(f"folds={self.folds} must be >= 2 and repeats={self.repeats} >= 1")


def variant_images(data: list[ClipFeatures], variant: Variant, inputs: ModelInput = ModelInput()) -> list[np.ndarray]:
    """The stacked input image of each clip over the subject's speech frames, drawn with ``inputs``' image settings."""
    draw = lambda item: feature_images(item.features, item.subject_frames, variant.images,  # noqa: E731
                                       config=inputs.images, sample_rate=inputs.features.sample_rate)
    return [stack_images(draw(item), variant.images) for item in data]


def make_folds(labels: np.ndarray, speakers: np.ndarray, cv: CVConfig) -> list[np.ndarray]:
    """Per repeat, the fold index of every clip; a speaker's clips share a fold."""
    if len(np.unique(speakers)) < cv.folds:
        raise ParameterError(f"{len(np.unique(speakers))} speakers cannot fill {cv.folds} speaker-disjoint folds")
    assignments = []
    for repeat in range(cv.repeats):
        splitter = StratifiedGroupKFold(n_splits=cv.folds, shuffle=True, random_state=cv.first_seed + repeat)
        fold_of = np.empty(len(labels), dtype=np.int64)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups=speakers)):
            fold_of[test] = k
        assignments.append(fold_of)
    return assignments


def fold_assignments_sha256(folds: list[np.ndarray]) -> str:
    """Fingerprint of a fold assignment, so results made elsewhere can prove they used the same folds."""
    return hashlib.sha256(json.dumps([f.tolist() for f in folds]).encode()).hexdigest()


def _fold_key(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _feature_key(variant: Variant, features: FeatureConfig) -> dict:
    """The feature settings in a fit's key: the F0-cleaning ones only for a variant that reads F0, and only
    when they differ from what keys were made with before they existed (so those keys still hold)."""
    reads_f0 = "f0" in variant.images
    return {key: value for key, value in features.to_dict().items()
            if key not in LEGACY_FEATURES or (reads_f0 and value != LEGACY_FEATURES[key])}


def _fit_key_parts(variant: Variant, model_config: ModelConfig, train_config: TrainConfig, inputs: ModelInput) -> list:
    """What a fit depends on besides its clips and seed, as the cache key has always spelled it.

    The window settings join the training settings' dict (where they were
    before they had a config of their own: same JSON, same key); image and
    VAD settings join only when they differ from the defaults earlier keys
    were made with.
    """
    parts = [variant.name, variant.images, model_config.to_dict(), {**train_config.key_dict(), **inputs.window.to_dict()},
             _feature_key(variant, inputs.features)]
    for config, default in ((inputs.images, ModelInput().images), (inputs.vad, ModelInput().vad)):
        if config != default:
            parts.append(config.to_dict())
    return parts


def fold_logits(
    variant: Variant,
    images: list[np.ndarray],
    data: list[ClipFeatures],
    train: np.ndarray,
    test: np.ndarray,
    fit_seed: int,
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    inputs: ModelInput,
    cache_dir: Path | None,
) -> tuple[np.ndarray, bool]:
    """Clip logits (mean window logit) of ``test`` from a model fitted on ``train``, and whether a fit ran.

    Cached under ``cache_dir/cv`` by everything the fit depends on (the clips
    and labels it saw, the clips scored, the seed and every setting), so an
    interrupted run continues where it stopped and refits nothing it has.
    """
    labels = np.array([item.clip.label for item in data])
    ids = [item.clip.id for item in data]
    key = _fold_key(
        _fit_key_parts(variant, model_config, train_config, inputs)
        + [[(ids[i], int(labels[i])) for i in train], [ids[i] for i in test], fit_seed]
    )
    cached = cache_dir / "cv" / f"{variant.name}-{key}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return np.load(cached, allow_pickle=False), False
    model = fit(
        [images[i] for i in train], labels[train], [data[i].clip.gender for i in train],
        speakers=[data[i].clip.speaker for i in train], model_config=model_config, train_config=train_config,
        window=inputs.window, seed=fit_seed,
        initial_state=initial_state(variant, model_config=model_config, train_config=train_config, inputs=inputs,
                                    cache_dir=cache_dir),
    )
    network = as_network(model)
    logits = np.array([recording_logit(network, images[i], inputs.window) for i in test])
    if cached is not None:  # written whole or not at all: a run killed here leaves no half file to resume from
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial.npy")
        np.save(partial, logits, allow_pickle=False)
        partial.replace(cached)
    return logits, True


def initial_state(variant: Variant, *, model_config: ModelConfig, train_config: TrainConfig, inputs: ModelInput,
                  cache_dir: Path | None) -> dict | None:
    """The pretrained network a fit starts from (``train_config.pretrain_epochs`` > 0), else None."""
    if not train_config.pretrain_epochs:
        return None
    from deceptio.training.related import pretrained_state

    return pretrained_state(variant, model_config=model_config, train_config=train_config, inputs=inputs, cache_dir=cache_dir)


@dataclass(frozen=True, eq=False)
class FitJob:
    """One fit of :func:`fold_logits`: a model trained on ``train`` scores ``test`` (indices into ``data`` and ``images``).

    ``images`` and ``data`` are the lists of the whole run, shared by every job
    of a variant (not copied), so an executor can ship them once.
    """

    variant: Variant
    images: list[np.ndarray]
    data: list[ClipFeatures]
    train: np.ndarray
    test: np.ndarray
    fit_seed: int
    model_config: ModelConfig
    train_config: TrainConfig
    inputs: ModelInput
    label: str = ""  # what the progress bar says of it


class FitExecutor(Protocol):
    """Runs fit jobs, returns each one's ``(logits, fitted)`` of :func:`fold_logits` in the jobs' order."""

    def __call__(self, jobs: Sequence[FitJob], *, cache_dir: Path | None, bar: tqdm) -> list[tuple[np.ndarray, bool]]: ...


def run_fits_locally(jobs: Sequence[FitJob], *, cache_dir: Path | None, bar: tqdm) -> list[tuple[np.ndarray, bool]]:
    """The default :class:`FitExecutor`: one fit after another in this process (torch's threads on this machine's cores)."""
    results = []
    for job in jobs:
        bar.set_postfix_str(job.label)
        results.append(fold_logits(job.variant, job.images, job.data, job.train, job.test, job.fit_seed,
                                   model_config=job.model_config, train_config=job.train_config, inputs=job.inputs,
                                   cache_dir=cache_dir))
        bar.update()
    return results


def _variant_fold_jobs(
    variant: Variant,
    images: list[np.ndarray],
    data: list[ClipFeatures],
    folds: list[np.ndarray],
    seeds: list[int],
    **settings,
) -> list[FitJob]:
    """Every fold of every repeat of one variant, repeat by repeat (the order the fits always ran in)."""
    return [
        FitJob(variant, images, data, train=np.flatnonzero(fold_of != k), test=np.flatnonzero(fold_of == k),
               fit_seed=seed * 100 + int(k), label=f"{variant.name} seed {seed} fold {k}", **settings)
        for seed, fold_of in zip(seeds, folds)
        for k in np.unique(fold_of)
    ]


def crossfit_calibrate(logits: np.ndarray, labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Each fold's probabilities use a temperature fitted on the other folds' out-of-fold logits."""
    p = np.empty(len(logits))
    for k in np.unique(fold_of):
        test, rest = fold_of == k, fold_of != k
        p[test] = sigmoid(logits[test] / fit_temperature(logits[rest], labels[rest]))
    return p


def cv_protocol(cv: CVConfig, **extra) -> dict:
    """The report's protocol block: how the folds were made and scored, with ``extra`` fields (which override)."""
    return {
        "folds": cv.folds,
        "repeats": cv.repeats,
        "seeds": [cv.first_seed + r for r in range(cv.repeats)],
        "grouped_by": "speaker",
        "stratified_by": "label",
        "scored_on": "subject turns only, speech frames (VAD)",
        "clip_score": "mean of window logits",
        "configurations_tried": 1,
        "selection": "fixed in advance",
        **extra,
    }


def screening_protocol(screening: dict | None, model_config: ModelConfig, train_config: TrainConfig,
                       inputs: ModelInput = ModelInput()) -> dict:
    """How many configurations were tried and how the reported one was chosen, from ``benchmarks/screen_configs.py``'s JSON.

    Without a screening (or one of another configuration) the reported
    configuration was the only one tried. A screening counts when its
    ``fixed`` row is the configuration reported here: then the others it
    tried were measured on the same data and count too.
    """
    if not screening or "fixed" not in screening.get("rows", {}):
        return {"configurations_tried": 1, "selection": "fixed in advance"}
    fixed = screening["rows"]["fixed"]
    adopted = screening.get("adopted", "fixed")
    reported = screening["rows"].get(adopted, fixed)
    if (replace(ModelConfig(), **reported.get("model", {})) != model_config
            or replace(TrainConfig(), **reported.get("train", {})) != train_config
            or replace(ModelInput().window, **reported.get("window", {})) != inputs.window):
        return {"configurations_tried": 1, "selection": "fixed in advance"}
    others = screening["configurations_tried"] - 1
    where = f"on {screening['variant']} over {screening['repeats']} repeats of these folds (reports/screening.md)"
    if adopted == "fixed":
        selection = f"fixed in advance; {others} other configuration(s) screened {where}, none adopted"
    else:
        selection = (f"chosen among {screening['configurations_tried']} screened {where}: "
                     "optimistic by that selection")
    return {"configurations_tried": screening["configurations_tried"], "selection": selection}


def cross_validate(
    data: list[ClipFeatures],
    *,
    variants: tuple[str, ...],
    cv: CVConfig = CVConfig(),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    inputs: ModelInput = ModelInput(),
    cache_dir: Path | None = None,
    extra_rows: list[dict] = (),
    screening: dict | None = None,
    progress: bool = True,
    executor: FitExecutor | None = None,
) -> dict:
    """Cross-validate variants (the ensemble included) and the baselines in the same folds.

    ``screening`` is what ``benchmarks/screen_configs.py`` wrote: it sets how
    many configurations the report says were tried (see :func:`screening_protocol`).

    ``extra_rows`` are out-of-fold results made elsewhere (e.g.
    ``benchmarks/notebook_recipe.py``); each joins the report only if it was
    made on the same clips in the same folds (checked by hash), else it is
    skipped with a warning.

    Returns the report as a JSON-ready dict: protocol, data summary, and per
    method the metrics as mean ± sd over repeats with a speaker-bootstrap
    95 % CI, plus the out-of-fold probabilities of every clip and repeat.
    Trained folds are cached under ``cache_dir/cv`` so a second run is quick.
    ``executor`` runs the fits (:func:`run_fits_locally` by default;
    :class:`deceptio.distributed.RayFits` on a Ray cluster): the same fits, the same figures.
    """
    requested = [get_variant(name) for name in variants]
    models = list(dict.fromkeys(m for v in requested for m in (v.members if v.is_ensemble else (v.name,))))
    labels, speakers, _ = clip_labels(data)
    folds = make_folds(labels, speakers, cv)
    seeds = [cv.first_seed + r for r in range(cv.repeats)]

    methods: dict[str, dict] = {}
    probabilities: dict[str, list[np.ndarray]] = {}
    raw: dict[str, list[np.ndarray]] = {}
    bar = tqdm(total=len(models) * cv.repeats * cv.folds, desc="cross-validation", unit="fit", disable=not progress)
    executor = executor or run_fits_locally
    for name in models:
        variant = get_variant(name)
        images = variant_images(data, variant, inputs)
        jobs = _variant_fold_jobs(variant, images, data, folds, seeds, model_config=model_config,
                                  train_config=train_config, inputs=inputs)
        results = iter(executor(jobs, cache_dir=cache_dir, bar=bar))
        logits = []
        for fold_of in folds:  # the jobs' order: repeat by repeat, fold by fold
            repeat_logits = np.empty(len(data))
            for k in np.unique(fold_of):
                repeat_logits[fold_of == k] = next(results)[0]
            logits.append(repeat_logits)
        raw[name] = logits
        probabilities[name] = [crossfit_calibrate(lg, labels, fold_of) for lg, fold_of in zip(logits, folds)]
        methods[name] = {"kind": "variant", "description": variant.description,
                         "temperature": fit_temperature(np.concatenate(logits), np.tile(labels, len(logits)))}
    bar.close()
    for variant in requested:
        if variant.is_ensemble:
            probabilities[variant.name] = [np.mean([probabilities[m][r] for m in variant.members], axis=0) for r in range(cv.repeats)]
            methods[variant.name] = {"kind": "ensemble", "description": variant.description, "members": list(variant.members)}
    folds_hash = fold_assignments_sha256(folds)
    ids = [item.clip.id for item in data]
    for row in extra_rows:
        # A row may cover only the first R repeats (slow recipes); those folds must match exactly.
        repeats = len(row.get("probabilities", []))
        if row.get("clip_ids") != ids or not 0 < repeats <= cv.repeats or row.get("fold_assignments_sha256") != fold_assignments_sha256(folds[:repeats]):
            warnings.warn(f"extra row {row.get('name')!r} was made on other clips or folds; left out of the report", stacklevel=2)
            continue
        probabilities[row["name"]] = [np.asarray(p, dtype=float) for p in row["probabilities"]]
        methods[row["name"]] = {"kind": row.get("kind", "baseline"), "description": row.get("description", ""),
                                "repeats": repeats}
    protocol = cv_protocol(
        cv,
        fold_assignments_sha256=folds_hash,
        calibration="temperature scaling, fitted per test fold on the other folds' out-of-fold logits",
        model_config=model_config.to_dict(),
        train_config=train_config.to_dict(),
        input_config={key: value for key, value in inputs.to_dict().items() if key in ("features", "vad", "images", "window")},
        **screening_protocol(screening, model_config, train_config, inputs),
    )
    return finish_report(data, methods, probabilities, folds, protocol, inputs.features, logits=raw)


def evaluate_weights(
    data: list[ClipFeatures],
    detector: "Detector",
    *,
    variants: tuple[str, ...] | None = None,
    cv: CVConfig = CVConfig(),
    progress: bool = True,
) -> dict:
    """Score trained weights on another labelled corpus (cross-corpus), beside in-corpus baselines.

    The variants are not retrained: every clip is scored by the shipped
    models with their shipped calibration. The baselines, which need
    training, are cross-validated on this corpus in speaker-grouped folds.
    ``data`` must be extracted with ``detector.feature_config``.
    """
    labels, speakers, _ = clip_labels(data)
    names = list(variants or detector.variants)
    models = list(dict.fromkeys(m for n in names for m in (detector.card(n).get("members") or [n])))
    scores = {name: np.empty(len(data)) for name in models}
    for i, item in enumerate(tqdm(data, desc="scoring", unit="clip", disable=not progress)):
        for name in models:
            scores[name][i] = detector.score_frames(item.features, item.subject_frames, variant=name).p
    methods, probabilities = {}, {}
    for name in names:
        card = detector.card(name)
        members = card.get("members") or [name]
        probabilities[name] = [np.mean([scores[m] for m in members], axis=0)]
        methods[name] = {"kind": "ensemble" if card.get("members") else "variant", "description": card.get("description", ""),
                         "trained_on": card.get("training_data", {}).get("name")}
    protocol = cv_protocol(cv, weights=str(detector.weights), calibration="as shipped (temperature from the training corpus)",
                         variants_scored="trained weights, not retrained (one pass: sd 0)",
                         feature_config=detector.feature_config.to_dict())
    return finish_report(data, methods, probabilities, make_folds(labels, speakers, cv), protocol, detector.feature_config)
