"""Speaker-grouped cross-validation of every variant and the bias baselines, in the same folds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from deceptio.data import ClipFeatures
from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, deltas
from deceptio.images import feature_images, stack_images
from deceptio.metrics import (
    accuracy,
    balanced_accuracy,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    sigmoid,
    speaker_bootstrap_ci,
    summarize,
)
from deceptio.models import ModelConfig
from deceptio.train import TrainConfig, fit, window_logits
from deceptio.variants import Variant, get_variant

__all__ = ["CVConfig", "BASELINES", "cross_validate", "make_folds", "variant_images", "format_report", "card_figures", "save_report"]

BASELINES = {
    "majority": "The larger class for every clip (p = 0.5): chance ranking.",
    "gender_pitch": "Logistic regression on the subject's median pitch: a gender detector.",
    "mfcc_logreg": "Logistic regression on mean and std of MFCCs and deltas (classic acoustic baseline).",
}
_CI_METRICS = ("auc", "auc_female", "accuracy", "balanced_accuracy")


@dataclass(frozen=True)
class CVConfig:
    """Repeated speaker-grouped K-fold."""

    folds: int = 5
    repeats: int = 5  # each repeat reshuffles which speakers share a fold
    first_seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2 or self.repeats < 1:
            raise ParameterError(f"folds={self.folds} must be >= 2 and repeats={self.repeats} >= 1")


def variant_images(data: list[ClipFeatures], variant: Variant, *, sample_rate: int = 16000) -> list[np.ndarray]:
    """The stacked input image of each clip over the subject's speech frames."""
    return [
        stack_images(feature_images(item.features, item.subject_frames, variant.images, sample_rate=sample_rate), variant.images)
        for item in data
    ]


def _baseline_inputs(data: list[ClipFeatures]) -> dict[str, np.ndarray]:
    pitch, mfcc_stats = [], []
    for item in data:
        frames = item.subject_frames
        f0 = item.features["f0"][frames]
        voiced = f0[item.features["voiced"][frames] & (f0 > 0)]
        pitch.append(np.log(np.median(voiced)) if voiced.size else np.nan)
        mfcc = item.features["mfcc"]
        stacked = np.concatenate([mfcc, deltas(mfcc)])[:, frames]
        mfcc_stats.append(np.concatenate([stacked.mean(axis=1), stacked.std(axis=1)]))
    pitch = np.asarray(pitch)
    pitch[~np.isfinite(pitch)] = np.nanmedian(pitch)  # a clip with no voiced frame gets the typical pitch
    return {"gender_pitch": pitch[:, None], "mfcc_logreg": np.asarray(mfcc_stats)}


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


def _baseline_oof(name: str, inputs: dict[str, np.ndarray], labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    p = np.empty(len(labels))
    for k in np.unique(fold_of):
        test, train = fold_of == k, fold_of != k
        if name == "majority":
            # One constant for every clip: it ranks nothing (AUC 0.5) and its accuracy is
            # the larger class's share. Per-fold majorities would anti-correlate with the
            # held-out fold and score below chance, an artefact of leaving clips out.
            p[test] = 0.5 + (1e-6 if labels.mean() >= 0.5 else -1e-6)
            continue
        # C fixed in advance, not tuned on these folds.
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1 if name == "mfcc_logreg" else 1.0, max_iter=5000))
        model.fit(inputs[name][train], labels[train])
        p[test] = model.predict_proba(inputs[name][test])[:, 1]
    return p


def _fold_key(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _variant_oof_logits(
    variant: Variant,
    images: list[np.ndarray],
    data: list[ClipFeatures],
    fold_of: np.ndarray,
    seed: int,
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    feature_config: FeatureConfig,
    cache_dir: Path | None,
    bar: tqdm,
) -> np.ndarray:
    labels = np.array([item.clip.label for item in data])
    genders = [item.clip.gender for item in data]
    ids = [item.clip.id for item in data]
    logits = np.empty(len(data))
    for k in np.unique(fold_of):
        test, train = np.flatnonzero(fold_of == k), np.flatnonzero(fold_of != k)
        fit_seed = seed * 100 + int(k)
        key = _fold_key(
            [variant.name, variant.images, model_config.to_dict(), train_config.to_dict(), feature_config.to_dict(),
             [(ids[i], int(labels[i])) for i in train], [ids[i] for i in test], fit_seed]
        )
        cached = cache_dir / "cv" / f"{variant.name}-{key}.npy" if cache_dir is not None else None
        bar.set_postfix_str(f"{variant.name} seed {seed} fold {k}")
        if cached is not None and cached.is_file():
            logits[test] = np.load(cached, allow_pickle=False)
        else:
            model = fit(
                [images[i] for i in train], labels[train], [genders[i] for i in train],
                model_config=model_config, train_config=train_config, seed=fit_seed,
            )
            logits[test] = [
                window_logits(model, images[i], window=train_config.window_frames, hop=train_config.hop_frames)[0].mean()
                for i in test
            ]
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.save(cached, logits[test], allow_pickle=False)
        bar.update()
    return logits


def _crossfit_calibrate(logits: np.ndarray, labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Each fold's probabilities use a temperature fitted on the other folds' out-of-fold logits."""
    p = np.empty(len(logits))
    for k in np.unique(fold_of):
        test, rest = fold_of == k, fold_of != k
        p[test] = sigmoid(logits[test] / fit_temperature(logits[rest], labels[rest]))
    return p


def _metrics(labels: np.ndarray, female: np.ndarray, speakers: np.ndarray, p_by_repeat: list[np.ndarray]) -> dict:
    per_repeat = {name: [] for name in ("auc", "auc_female", "accuracy", "balanced_accuracy", "ece")}
    for p in p_by_repeat:
        per_repeat["auc"].append(roc_auc(labels, p))
        per_repeat["auc_female"].append(roc_auc(labels[female], p[female]))
        per_repeat["accuracy"].append(accuracy(labels, p))
        per_repeat["balanced_accuracy"].append(balanced_accuracy(labels, p))
        per_repeat["ece"].append(expected_calibration_error(labels, p))
    out = {name: summarize(values) for name, values in per_repeat.items()}
    # The CI resamples speakers over the repeat-averaged out-of-fold probability of each clip.
    mean_p = np.mean(p_by_repeat, axis=0)
    metric_fns = {"auc": roc_auc, "accuracy": accuracy, "balanced_accuracy": balanced_accuracy}
    for name in _CI_METRICS:
        if name == "auc_female":
            lo, hi = speaker_bootstrap_ci(roc_auc, labels[female], mean_p[female], speakers[female])
        else:
            lo, hi = speaker_bootstrap_ci(metric_fns[name], labels, mean_p, speakers)
        out[name]["ci95"] = [lo, hi]
    return out


def cross_validate(
    data: list[ClipFeatures],
    *,
    variants: tuple[str, ...],
    cv: CVConfig = CVConfig(),
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    feature_config: FeatureConfig = FeatureConfig(),
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Cross-validate variants (the ensemble included) and the baselines in the same folds.

    Returns the report as a JSON-ready dict: protocol, data summary, and per
    method the metrics as mean ± sd over repeats with a speaker-bootstrap
    95 % CI, plus the out-of-fold probabilities of every clip and repeat.
    Trained folds are cached under ``cache_dir/cv`` so a second run is quick.
    """
    requested = [get_variant(name) for name in variants]
    models = list(dict.fromkeys(m for v in requested for m in (v.members if v.is_ensemble else (v.name,))))
    labels = np.array([item.clip.label for item in data])
    speakers = np.array([item.clip.speaker for item in data])
    female = np.array([item.clip.gender == "F" for item in data])
    if len(np.unique(labels)) < 2:
        raise ParameterError("the data holds only one label: nothing to evaluate")
    folds = make_folds(labels, speakers, cv)
    seeds = [cv.first_seed + r for r in range(cv.repeats)]

    methods: dict[str, dict] = {}
    probabilities: dict[str, list[np.ndarray]] = {}
    bar = tqdm(total=len(models) * cv.repeats * cv.folds, desc="cross-validation", unit="fit", disable=not progress)
    for name in models:
        variant = get_variant(name)
        images = variant_images(data, variant, sample_rate=feature_config.sample_rate)
        logits = [
            _variant_oof_logits(variant, images, data, fold_of, seed, model_config=model_config, train_config=train_config,
                                feature_config=feature_config, cache_dir=cache_dir, bar=bar)
            for seed, fold_of in zip(seeds, folds)
        ]
        probabilities[name] = [_crossfit_calibrate(lg, labels, fold_of) for lg, fold_of in zip(logits, folds)]
        methods[name] = {"kind": "variant", "description": variant.description,
                         "temperature": fit_temperature(np.concatenate(logits), np.tile(labels, len(logits)))}
    bar.close()
    for variant in requested:
        if variant.is_ensemble:
            probabilities[variant.name] = [np.mean([probabilities[m][r] for m in variant.members], axis=0) for r in range(cv.repeats)]
            methods[variant.name] = {"kind": "ensemble", "description": variant.description, "members": list(variant.members)}
    inputs = _baseline_inputs(data)
    for name, description in BASELINES.items():
        probabilities[name] = [_baseline_oof(name, inputs, labels, fold_of) for fold_of in folds]
        methods[name] = {"kind": "baseline", "description": description}
    for name, method in methods.items():
        method["metrics"] = _metrics(labels, female, speakers, probabilities[name])

    return {
        "protocol": {
            "folds": cv.folds,
            "repeats": cv.repeats,
            "seeds": seeds,
            "grouped_by": "speaker",
            "stratified_by": "label",
            "scored_on": "subject turns only, speech frames (VAD)",
            "clip_score": "mean of window logits",
            "calibration": "temperature scaling, fitted per test fold on the other folds' out-of-fold logits",
            "configurations_tried": 1,
            "model_config": model_config.to_dict(),
            "train_config": train_config.to_dict(),
            "feature_config": feature_config.to_dict(),
        },
        "data": {
            "n_clips": int(len(labels)),
            "n_speakers": int(len(np.unique(speakers))),
            "n_deceptive": int(labels.sum()),
            "n_female": int(female.sum()),
            "n_female_deceptive": int(labels[female].sum()),
            "subject_speech_s": round(float(sum(item.subject_frames.size for item in data)) * feature_config.hop_length / feature_config.sample_rate, 1),
        },
        "methods": methods,
        "out_of_fold": {
            "clip_ids": [item.clip.id for item in data],
            "labels": labels.tolist(),
            "probabilities": {name: [np.round(p, 6).tolist() for p in ps] for name, ps in probabilities.items()},
        },
    }


def _fmt(metric: dict, ci: bool = True) -> str:
    text = f"{metric['mean']:.3f} ± {metric['std']:.3f}"
    if ci and "ci95" in metric and np.isfinite(metric["ci95"][0]):
        text += f" [{metric['ci95'][0]:.2f}, {metric['ci95'][1]:.2f}]"
    return text


def format_report(report: dict) -> str:
    """The report as a markdown table (mean ± sd over repeats [95 % speaker-bootstrap CI])."""
    protocol, data = report["protocol"], report["data"]
    lines = [
        f"Speaker-grouped {protocol['folds']}-fold CV × {protocol['repeats']} repeats (seeds {protocol['seeds']}); "
        f"{data['n_clips']} clips, {data['n_speakers']} speakers, {data['n_deceptive']} deceptive; "
        f"{data['n_female']} female clips ({data['n_female_deceptive']} deceptive). "
        f"Configurations tried: {protocol['configurations_tried']}.",
        "",
        "| method | kind | ROC AUC | AUC (female) | accuracy | balanced acc. | ECE |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, method in report["methods"].items():
        m = method["metrics"]
        lines.append(
            f"| {name} | {method['kind']} | {_fmt(m['auc'])} | {_fmt(m['auc_female'])} | {_fmt(m['accuracy'])} | "
            f"{_fmt(m['balanced_accuracy'])} | {m['ece']['mean']:.3f} |"
        )
    lines += ["", "mean ± sd over repeats [95 % CI, bootstrap over speakers of the repeat-averaged out-of-fold scores]."]
    return "\n".join(lines)


def card_figures(report: dict, method: str) -> dict:
    """The ``cv`` and ``baselines`` blocks of a model card, from the report."""
    m = report["methods"][method]["metrics"]
    pick = lambda metric: {"mean": metric["mean"], "std": metric["std"], "ci95": metric.get("ci95")}  # noqa: E731
    cv = {name: pick(m[name]) for name in ("auc", "auc_female", "accuracy", "balanced_accuracy")}
    cv["ece"] = m["ece"]["mean"]
    baselines = {
        name: {"auc": pick(report["methods"][name]["metrics"]["auc"]),
               "accuracy": pick(report["methods"][name]["metrics"]["accuracy"])}
        for name in BASELINES
        if name in report["methods"]
    }
    return {"cv": cv, "baselines": baselines, "protocol": {k: report["protocol"][k] for k in ("folds", "repeats", "grouped_by")}}


def save_report(report: dict, directory: Path) -> tuple[Path, Path]:
    """Write ``cv_report.json`` and ``cv_report.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "cv_report.json", directory / "cv_report.md"
    json_path.write_text(json.dumps(report, indent=1))
    md_path.write_text("# Cross-validation report\n\n" + format_report(report) + "\n")
    return json_path, md_path
