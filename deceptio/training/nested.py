"""Nested speaker-grouped cross-validation: the choice of configuration is part of what the outer folds measure.

In every outer fold an inner speaker-grouped CV on the training speakers
scores each configuration of a grid fixed in advance (:data:`GRID`); the one
with the best inner gender-balanced AUC is refitted on all training speakers
and scores the held-out ones. The outer figures therefore include the
selection, and the report counts how often each configuration was picked.
The configuration a release ships is the one the same inner procedure picks
on all clips (:func:`shipped_configurations`). Every fit goes through the fold cache (:func:`deceptio.training.cv.fold_logits`),
so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from deceptio.errors import ParameterError
from deceptio.modeling.card import ModelInput
from deceptio.modeling.models import ModelConfig
from deceptio.modeling.scoring import sigmoid
from deceptio.modeling.variants import get_variant
from deceptio.training.cv import (CVConfig, FitExecutor, FitJob, cv_protocol, fold_assignments_sha256,
                                  make_folds, run_fits_locally, variant_images)
from deceptio.training.data import ClipFeatures
from deceptio.training.metrics import fit_temperature, gender_balanced_auc, roc_auc
from deceptio.training.related import arousal_auc
from deceptio.training.report import clip_labels, finish_report
from deceptio.training.train import TrainConfig

__all__ = ["Candidate", "GRID", "nested_cross_validate", "select_grid", "shipped_configurations"]


@dataclass(frozen=True)
class Candidate:
    """One configuration of the grid: overrides of the model, training and window settings."""

    name: str
    description: str
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    window: dict = field(default_factory=dict)

    def apply(self, model_config: ModelConfig, train_config: TrainConfig, inputs: ModelInput):
        return (replace(model_config, **self.model), replace(train_config, **self.train),
                replace(inputs, window=replace(inputs.window, **self.window)))

    def to_dict(self) -> dict:
        return {"description": self.description, "model": self.model, "train": self.train, "window": self.window}


# Fixed in advance, before a nested run. The first run's grid: the window lengths the screening pointed
# at (4 s shipped, 8 s, 16 s). The second adds three configurations, not three axes: 8 s windows (the
# first run's most frequent pick) trained against gender and speaker adversaries; a model that reads the
# whole recording (attention pooling over time, trained on 30 s crops); and 8 s windows pretrained on
# EmoDB arousal. 5 outer repeats x 5 folds x (6 configurations x 3 inner folds + 1 refit) + 18 fits of
# the inner CV on all clips = 493 fits per variant, 1972 for the four. One fit of lsf_lpc on 81 clips,
# 2 AMD EPYC cores, nothing else running: w4 18.7 s, w8 13.4 s, w16 16.9 s, w8adv 15.4 s, whole 32.1 s,
# w8pre 13 s after its variant's one pretraining (about 35 s), so about 110 s of fits per inner pool and
# about 10 hours from scratch for the four variants, far more than the 3 hours aimed at: it runs over
# several sessions through the fold cache. `--grid w8 w8adv` (29 s per pool) is what fits in 3 hours.
# Not in it: twice the width, augmentation, the adversary or the pretraining crossed with every window,
# a second adversary weight (each axis doubles the fits).
GRID: tuple[Candidate, ...] = (
    Candidate("w4", "4 s windows, hop 2 s (the fixed-window report's)"),
    Candidate("w8", "8 s windows, hop 4 s", window={"window_frames": 800, "hop_frames": 400}),
    Candidate("w16", "16 s windows, hop 8 s", window={"window_frames": 1600, "hop_frames": 800}),
    Candidate("w8adv", "8 s windows, hop 4 s, trained against gender and speaker adversaries (gradient reversal, weight 0.5)",
              window={"window_frames": 800, "hop_frames": 400}, train={"adversary": 0.5}),
    Candidate("whole", "the whole recording at once, attention pooling over time, trained on 30 s crops",
              model={"pooling": "attention"}, window={"window_frames": 3000, "hop_frames": 3000, "whole": True}),
    Candidate("w8pre", "8 s windows, hop 4 s, the network first trained 6 epochs on EmoDB arousal (high against low)",
              window={"window_frames": 800, "hop_frames": 400}, train={"pretrain_epochs": 6}),
)


def select_grid(names: list[str] | None) -> tuple[Candidate, ...]:
    """The configurations of :data:`GRID` called ``names``, in the grid's order; all of it for None."""
    if names is None:
        return GRID
    known = [c.name for c in GRID]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ParameterError(f"unknown grid configurations {unknown}; the grid holds {known}")
    return tuple(c for c in GRID if c.name in names)


# The inner CV on all clips that picks what a release ships: its fold seed and fit seeds lie outside
# those of the outer folds' inner CVs (1000 + seed * 100 + k and seed * 100 + k * 10 + j).
_SHIPPED_FOLD_SEED, _SHIPPED_FIT_SEED = 999, 9000


def _inner_score(labels: np.ndarray, genders: np.ndarray, logits: np.ndarray) -> float:
    """The selection criterion, fixed in advance: gender-balanced AUC (a gender detector scores 0.5 on it)."""
    score = gender_balanced_auc(labels, logits, genders)
    return score if np.isfinite(score) else 0.5


def _select(grid: tuple[Candidate, ...], scores: dict[str, float]) -> str:
    """The candidate with the best inner score; ties go to the first (the shipped one)."""
    return max(grid, key=lambda c: scores[c.name]).name


def shipped_configurations(report: dict, model_config: ModelConfig, train_config: TrainConfig,
                           inputs: ModelInput) -> dict[str, tuple[str, tuple[ModelConfig, TrainConfig, ModelInput]]]:
    """Per variant of a nested ``report``: the configuration its inner CV on all clips picked, and its settings.

    ``model_config``, ``train_config`` and ``inputs`` are the settings the
    report was made with (they must equal its protocol's), the grid's
    overrides applied on top, as the nested run applied them.
    """
    protocol = report["protocol"]
    if "shipped" not in protocol:
        raise ParameterError("the report holds no selection on all clips: make it with deceptio evaluate --nested "
                             "(this version) or deceptio train --nested")
    # Compared as settings, not as dicts: a report written before a later field existed holds its default.
    if (model_config, train_config) != (ModelConfig.from_dict(protocol["model_config"]),
                                        TrainConfig.from_dict(protocol["train_config"])):
        raise ParameterError("the model or training settings are not the ones the nested report was made with")
    grid = {name: Candidate(name, **row) for name, row in protocol["grid"].items()}
    return {name: (row["configuration"], grid[row["configuration"]].apply(model_config, train_config, inputs))
            for name, row in protocol["shipped"].items() if "configuration" in row}  # an ensemble: its members


def nested_cross_validate(
    data: list[ClipFeatures],
    *,
    variants: tuple[str, ...],
    cv: CVConfig = CVConfig(),
    inner_folds: int = 3,
    grid: tuple[Candidate, ...] = GRID,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    inputs: ModelInput = ModelInput(),
    cache_dir: Path | None = None,
    progress: bool = True,
    executor: FitExecutor | None = None,
) -> dict:
    """Nested CV of the variants (the ensemble included) and the baselines, in the same outer folds as :func:`cross_validate`.

    Returns the report dict of :func:`~deceptio.training.cv.cross_validate`, its
    protocol holding the grid, the picks per variant and outer fold, the fits
    done and the wall time. ``executor`` runs the fits (:func:`~deceptio.training.cv.run_fits_locally`
    by default, :class:`deceptio.distributed.RayFits` on a Ray cluster) in two phases: every inner fit
    of every outer fold, then the refits their scores pick.
    """
    start = time.perf_counter()
    requested = [get_variant(name) for name in variants]
    models = list(dict.fromkeys(m for v in requested for m in (v.members if v.is_ensemble else (v.name,))))
    labels, speakers, genders = clip_labels(data)
    folds = make_folds(labels, speakers, cv)
    seeds = [cv.first_seed + r for r in range(cv.repeats)]
    settings = {c.name: c.apply(model_config, train_config, inputs) for c in grid}
    fits = {"done": 0, "cached": 0}
    picks: dict[str, list[list[str]]] = {}
    shipped: dict[str, dict] = {}
    methods: dict[str, dict] = {}
    probabilities: dict[str, list[np.ndarray]] = {}
    raw: dict[str, list[np.ndarray]] = {}
    total = len(models) * ((cv.repeats * cv.folds + 1) * len(grid) * inner_folds + cv.repeats * cv.folds)
    bar = tqdm(total=total, desc="nested cross-validation", unit="fit", disable=not progress)

    executor = executor or run_fits_locally

    def run(jobs: list[FitJob]) -> list[np.ndarray]:
        results = executor(jobs, cache_dir=cache_dir, bar=bar)
        for _, fitted in results:
            fits["done" if fitted else "cached"] += 1
        return [logits for logits, _ in results]

    def job(variant, images, train, test, seed, candidate, label) -> FitJob:
        model_c, train_c, inputs_c = settings[candidate]
        return FitJob(variant, images, data, train=train, test=test, fit_seed=seed, model_config=model_c,
                      train_config=train_c, inputs=inputs_c, label=label)

    for name in models:
        variant = get_variant(name)
        images = variant_images(data, variant, inputs)  # the grid changes windows and widths, not the images
        outer = [(r, seed, fold_of, int(k)) for r, (seed, fold_of) in enumerate(zip(seeds, folds)) for k in np.unique(fold_of)]
        # Phase 1, the inner fits of every outer fold at once, then those of the inner CV on all clips (which
        # picks what a release ships): they depend on nothing but the data. An inner fold's clips are indices
        # into the whole data (through the pool's clips, in their order), so the fit sees the same clips in the
        # same order and has the same cache key as on the subset.
        pools = {(seed, k): (np.flatnonzero(fold_of != k), 1000 + seed * 100 + k, seed * 100 + k * 10,
                             f"{name} seed {seed} outer {k}") for _, seed, fold_of, k in outer}
        pools["all"] = (np.arange(len(data)), _SHIPPED_FOLD_SEED, _SHIPPED_FIT_SEED, f"{name} all clips")
        inner_jobs, inner_slots = [], []
        for key, (pool, fold_seed, fit_seed, label) in pools.items():
            inner = make_folds(labels[pool], speakers[pool], CVConfig(folds=inner_folds, repeats=1, first_seed=fold_seed))[0]
            for candidate in grid:
                for j in np.unique(inner):
                    inner_jobs.append(job(variant, images, pool[inner != j], pool[inner == j], fit_seed + int(j),
                                          candidate.name, f"{label} {candidate.name} inner {j}"))
                    inner_slots.append((key, candidate.name, inner == j))
        inner_logits: dict[tuple, np.ndarray] = {}
        for (key, candidate, held_out), logits in zip(inner_slots, run(inner_jobs)):
            inner_logits.setdefault((key, candidate), np.empty(held_out.size))[held_out] = logits
        inner_scores = {key: {c.name: _inner_score(labels[pool], genders[pool], inner_logits[key, c.name]) for c in grid}
                        for key, (pool, *_) in pools.items()}
        # What each configuration's scores say about gender (the adversary's measure), in the same inner folds.
        known = np.isin(genders, ("F", "M"))
        score_gender = {c.name: round(roc_auc((genders[known] == "F").astype(int), inner_logits["all", c.name][known]), 4)
                        for c in grid}
        shipped[name] = {"configuration": _select(grid, inner_scores["all"]),
                         "inner_gender_balanced_auc": {c: round(v, 4) for c, v in inner_scores["all"].items()},
                         "inner_score_gender_auc": score_gender}
        # Phase 2, each outer fold's refit of the configuration its inner scores picked.
        refit_jobs, repeats, chosen = [], [], {}
        for r, seed, fold_of, k in outer:
            outer_train, outer_test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
            best = _select(grid, inner_scores[seed, k])
            chosen[seed, k] = best
            repeats.append(r)
            refit_jobs.append(job(variant, images, outer_train, outer_test, seed * 100 + k, best,
                                  f"{name} seed {seed} outer {k} refit {best}"))
        all_logits = [np.empty(len(data)) for _ in folds]
        for r, refit, logits in zip(repeats, refit_jobs, run(refit_jobs)):
            all_logits[r][refit.test] = logits
        raw[name] = all_logits
        picks[name] = [[chosen[seed, int(k)] for k in np.unique(fold_of)] for seed, fold_of in zip(seeds, folds)]
        # Calibration is part of the procedure too: each outer model's temperature is fitted on the inner
        # out-of-fold logits of the configuration it refits (its training speakers only), as the shipped
        # model's is on those of the inner CV on all clips. (The first nested run fitted it on the other
        # outer folds' logits, which mix the scales of differently configured models.)
        temperatures = [np.empty(len(np.unique(fold_of))) for fold_of in folds]
        probabilities[name] = [np.empty(len(data)) for _ in folds]
        for r, seed, fold_of, k in outer:
            pool = pools[seed, k][0]
            t = temperatures[r][k] = fit_temperature(inner_logits[(seed, k), chosen[seed, k]], labels[pool])
            probabilities[name][r][fold_of == k] = sigmoid(all_logits[r][fold_of == k] / t)
        configuration = shipped[name]["configuration"]
        methods[name] = {"kind": "variant", "description": variant.description,
                         "temperature": fit_temperature(inner_logits["all", configuration], labels),
                         "outer_temperatures": [[float(t) for t in row] for row in temperatures],
                         "picked": {c.name: sum(row.count(c.name) for row in picks[name]) for c in grid}}
        # The related task: what each pretraining configuration's network learns of arousal on EmoDB speakers held out.
        related = {c.name: round(arousal_auc(variant, model_config=settings[c.name][0], train_config=settings[c.name][1],
                                             inputs=settings[c.name][2], cache_dir=cache_dir), 4)
                   for c in grid if settings[c.name][1].pretrain_epochs}
        if related:
            methods[name]["arousal_auc"] = related
    bar.close()
    for variant in requested:
        if variant.is_ensemble:
            probabilities[variant.name] = [np.mean([probabilities[m][r] for m in variant.members], axis=0)
                                           for r in range(cv.repeats)]
            methods[variant.name] = {"kind": "ensemble", "description": variant.description, "members": list(variant.members)}
    protocol = cv_protocol(
        cv,
        fold_assignments_sha256=fold_assignments_sha256(folds),
        calibration=("temperature scaling, fitted per outer fold on the inner out-of-fold logits of the configuration "
                     "it refits (the shipped model's on the inner CV on all clips)"),
        selection=(f"nested: in each outer fold, an inner speaker-grouped {inner_folds}-fold CV on the training "
                   "speakers picks the configuration with the best gender-balanced AUC; the outer figures include it"),
        configurations_tried=len(grid),
        grid={c.name: c.to_dict() for c in grid},
        picks=picks,
        shipped={**shipped, **{v.name: {"members": list(v.members)} for v in requested if v.is_ensemble}},
        fits={**fits, "wall_s": round(time.perf_counter() - start, 1)},
        model_config=model_config.to_dict(), train_config=train_config.to_dict(),
        input_config={key: value for key, value in inputs.to_dict().items() if key in ("features", "vad", "images", "window")},
    )
    return finish_report(data, methods, probabilities, folds, protocol, inputs.features, logits=raw)

