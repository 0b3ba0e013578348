"""Speaker-grouped cross-validation of every variant and the bias baselines, in the same folds."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from deceptio import jsonutil
from deceptio.data import ClipFeatures
from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, deltas
from deceptio.images import feature_images, stack_images
from deceptio.metrics import (
    accuracy,
    gender_balanced_auc,
    within_speaker_auc,
    balanced_accuracy,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    sigmoid,
    speaker_bootstrap_ci,
    summarize,
)
from deceptio.models import ModelConfig
from deceptio.report_plots import save_report_figures
from deceptio.train import TrainConfig, fit, window_logits
from deceptio.variants import Variant, get_variant

if TYPE_CHECKING:
    from deceptio.inference import Detector

__all__ = ["CVConfig", "BASELINES", "cross_validate", "evaluate_weights", "make_folds", "fold_assignments_sha256", "variant_images", "format_report", "card_figures", "save_report"]

BASELINES = {
    "majority": "The larger class for every clip (p = 0.5): chance ranking.",
    "gender_pitch": "Logistic regression on the subject's median pitch: a gender detector.",
    "mfcc_logreg": "Logistic regression on mean and std of MFCCs and deltas (classic acoustic baseline).",
    "channel_only": "mfcc_logreg on the OTHER speakers' turns (lawyers, judges): the room and context, not the subject.",
    "mfcc_logreg_channel_subset": "mfcc_logreg on the subject's turns, trained and scored on the channel_only clips only.",
}
SALIENCY_CAPTION = "Class activation maps of the shipped spec_prosody on a few training clips (red raised p(deceptive), blue lowered it)."
CHANNEL_MIN_S = 1.0  # clips need this much of other speakers' speech for the channel-only baseline


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


def _mfcc_statistics(mfcc_and_deltas: np.ndarray, frames: np.ndarray) -> np.ndarray:
    selected = mfcc_and_deltas[:, frames]
    return np.concatenate([selected.mean(axis=1), selected.std(axis=1)])


def _baseline_inputs(data: list[ClipFeatures], min_other_frames: int) -> dict[str, np.ndarray]:
    """Per clip: log median pitch, MFCC statistics of the subject, and of the other speakers (NaN rows if too few)."""
    pitch, subject, other = [], [], []
    for item in data:
        frames = item.subject_frames
        f0 = item.features["f0"][frames]
        voiced = f0[item.features["voiced"][frames] & (f0 > 0)]
        pitch.append(np.log(np.median(voiced)) if voiced.size else np.nan)
        mfcc = item.features["mfcc"]
        mfcc_and_deltas = np.concatenate([mfcc, deltas(mfcc)])  # once per clip, for both speakers' statistics
        subject.append(_mfcc_statistics(mfcc_and_deltas, frames))
        other_frames = item.other_frames
        other.append(_mfcc_statistics(mfcc_and_deltas, other_frames) if other_frames.size >= min_other_frames
                     else np.full(subject[-1].shape, np.nan))
    pitch = np.asarray(pitch)
    pitch[~np.isfinite(pitch)] = np.nanmedian(pitch)  # a clip with no voiced frame gets the typical pitch
    subject = np.asarray(subject)
    return {
        "gender_pitch": pitch[:, None],
        "mfcc_logreg": subject,
        "channel_only": np.asarray(other),
        "mfcc_logreg_channel_subset": np.where(np.isfinite(np.asarray(other)).all(axis=1)[:, None], subject, np.nan),
    }


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


def _baseline_oof(name: str, inputs: dict[str, np.ndarray], labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Out-of-fold p(deceptive) of a baseline; NaN for clips outside its subset (rows of NaN inputs)."""
    p = np.full(len(labels), np.nan)
    usable = np.ones(len(labels), dtype=bool) if name == "majority" else np.isfinite(inputs[name]).all(axis=1)
    for k in np.unique(fold_of):
        test, train = usable & (fold_of == k), usable & (fold_of != k)
        if not test.any():
            continue
        if name == "majority":
            # One constant for every clip: it ranks nothing (AUC 0.5) and its accuracy is
            # the larger class's share. Per-fold majorities would anti-correlate with the
            # held-out fold and score below chance, an artefact of leaving clips out.
            p[test] = 0.5 + (1e-6 if labels.mean() >= 0.5 else -1e-6)
            continue
        if len(np.unique(labels[train])) < 2:
            p[test] = labels[train].mean()
            continue
        # C fixed in advance, not tuned on these folds.
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 if name == "gender_pitch" else 0.1, max_iter=5000))
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
            [variant.name, variant.images, model_config.to_dict(), train_config.key_dict(), feature_config.to_dict(),
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


@dataclass(frozen=True)
class _Cohort:
    """The clips' labels and the groupings the confound metrics need."""

    labels: np.ndarray
    speakers: np.ndarray
    genders: np.ndarray
    channel: np.ndarray  # clips with enough of other speakers for the channel-only baseline

    @property
    def female(self) -> np.ndarray:
        return self.genders == "F"

    @property
    def dominant(self) -> str:
        """The speaker with the most clips."""
        names, counts = np.unique(self.speakers, return_counts=True)
        return str(names[np.argmax(counts)])


def _repeat_metrics(c: _Cohort, p: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    labels, female, genders = c.labels[keep], c.female[keep], c.genders[keep]
    p = p[keep]
    known = np.isin(genders, ("F", "M"))
    female_rest = female & (c.speakers[keep] != c.dominant)
    return {
        "auc": roc_auc(labels, p),
        "auc_female": roc_auc(labels[female], p[female]),
        "auc_female_without_dominant": roc_auc(labels[female_rest], p[female_rest]),
        "gender_balanced_auc": gender_balanced_auc(labels, p, genders),
        "auc_within_speaker": within_speaker_auc(labels, p, c.speakers[keep], n_resamples=1)["value"],
        "auc_score_gender": roc_auc(female[known], p[known]),
        "auc_channel_subset": roc_auc(labels[c.channel[keep]], p[c.channel[keep]]),
        "accuracy": accuracy(labels, p),
        "balanced_accuracy": balanced_accuracy(labels, p),
        "ece": expected_calibration_error(labels, p),
    }


def _metrics(c: _Cohort, p_by_repeat: list[np.ndarray]) -> dict:
    """Metrics per repeat summarised as mean ± sd, with 95 % CIs resampling speakers.

    Clips a method does not score (NaN, outside its subset) are left out of
    its metrics.
    """
    keep = np.isfinite(p_by_repeat[0])
    per_repeat = [_repeat_metrics(c, p, keep) for p in p_by_repeat]
    out = {name: summarize([r[name] for r in per_repeat]) for name in per_repeat[0]}
    # CIs resample speakers over the repeat-averaged out-of-fold probability of each clip.
    mean_p = np.mean(p_by_repeat, axis=0)[keep]
    labels, speakers, female = c.labels[keep], c.speakers[keep], c.female[keep]
    for name, fn, subset in (
        ("auc", roc_auc, slice(None)),
        ("auc_female", roc_auc, female),
        ("auc_female_without_dominant", roc_auc, female & (speakers != c.dominant)),
        ("accuracy", accuracy, slice(None)),
        ("balanced_accuracy", balanced_accuracy, slice(None)),
    ):
        out[name]["ci95"] = list(speaker_bootstrap_ci(fn, labels[subset], mean_p[subset], speakers[subset]))
    within = within_speaker_auc(labels, mean_p, speakers)
    out["auc_within_speaker"].update(ci95=within["ci95"], n_pairs=within["n_pairs"], n_speakers=within["n_speakers"])
    out["n_clips"] = int(keep.sum())
    return out


def _labels(data: list[ClipFeatures]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([item.clip.label for item in data])
    if len(np.unique(labels)) < 2:
        raise ParameterError("the data holds only one label: nothing to evaluate")
    return labels, np.array([item.clip.speaker for item in data]), np.array([item.clip.gender for item in data])


def _finish_report(
    data: list[ClipFeatures],
    methods: dict[str, dict],
    probabilities: dict[str, list[np.ndarray]],
    folds: list[np.ndarray],
    protocol: dict,
    feature_config: FeatureConfig,
) -> dict:
    """Add the baselines in the same folds, compute every method's metrics, assemble the report."""
    labels, speakers, genders = _labels(data)
    female = genders == "F"
    min_other = int(round(CHANNEL_MIN_S * feature_config.sample_rate / feature_config.hop_length))
    inputs = _baseline_inputs(data, min_other)
    for name, description in BASELINES.items():
        probabilities[name] = [_baseline_oof(name, inputs, labels, fold_of) for fold_of in folds]
        if not np.isfinite(probabilities[name][0]).any():  # e.g. no clip has other speakers' turns
            del probabilities[name]
            continue
        methods[name] = {"kind": "baseline", "description": description}
        if name in ("channel_only", "mfcc_logreg_channel_subset"):
            methods[name]["subset"] = f"clips with >= {CHANNEL_MIN_S:g} s of other speakers"
    cohort = _Cohort(labels, speakers, genders, channel=np.isfinite(inputs["channel_only"]).all(axis=1))
    for name, method in methods.items():
        method["metrics"] = _metrics(cohort, probabilities[name])
    known = np.isin(genders, ("F", "M"))
    return {
        "protocol": protocol,
        "data": {
            "n_clips": int(len(labels)),
            "n_speakers": int(len(np.unique(speakers))),
            "n_deceptive": int(labels.sum()),
            "n_female": int(female.sum()),
            "n_female_deceptive": int(labels[female].sum()),
            "dominant_speaker": cohort.dominant,
            "n_dominant": int((speakers == cohort.dominant).sum()),
            "n_female_without_dominant": int((female & (speakers != cohort.dominant)).sum()),
            "n_channel_subset": int(cohort.channel.sum()),
            "auc_label_gender": roc_auc(female[known], labels[known]),
            "subject_speech_s": round(float(sum(item.subject_frames.size for item in data)) * feature_config.hop_length / feature_config.sample_rate, 1),
        },
        "methods": methods,
        "out_of_fold": {
            "clip_ids": [item.clip.id for item in data],
            "labels": labels.tolist(),
            "speakers": speakers.tolist(),
            "genders": genders.tolist(),
            "probabilities": {name: [np.round(p, 6).tolist() for p in ps] for name, ps in probabilities.items()},
        },
    }


def _protocol(cv: CVConfig, **extra) -> dict:
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


def screening_protocol(screening: dict | None, model_config: ModelConfig, train_config: TrainConfig) -> dict:
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
            or replace(TrainConfig(), **reported.get("train", {})) != train_config):
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
    feature_config: FeatureConfig = FeatureConfig(),
    cache_dir: Path | None = None,
    extra_rows: list[dict] = (),
    screening: dict | None = None,
    progress: bool = True,
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
    """
    requested = [get_variant(name) for name in variants]
    models = list(dict.fromkeys(m for v in requested for m in (v.members if v.is_ensemble else (v.name,))))
    labels, speakers, _ = _labels(data)
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
    protocol = _protocol(
        cv,
        fold_assignments_sha256=folds_hash,
        calibration="temperature scaling, fitted per test fold on the other folds' out-of-fold logits",
        model_config=model_config.to_dict(),
        train_config=train_config.to_dict(),
        feature_config=feature_config.to_dict(),
        **screening_protocol(screening, model_config, train_config),
    )
    return _finish_report(data, methods, probabilities, folds, protocol, feature_config)


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
    labels, speakers, _ = _labels(data)
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
    protocol = _protocol(cv, weights=str(detector.weights), calibration="as shipped (temperature from the training corpus)",
                         variants_scored="trained weights, not retrained (one pass: sd 0)",
                         feature_config=detector.feature_config.to_dict())
    return _finish_report(data, methods, probabilities, make_folds(labels, speakers, cv), protocol, detector.feature_config)


def _fmt(metric: dict, ci: bool = True) -> str:
    text = f"{metric['mean']:.3f} ± {metric['std']:.3f}"
    if ci and "ci95" in metric and np.isfinite(metric["ci95"][0]):
        text += f" [{metric['ci95'][0]:.2f}, {metric['ci95'][1]:.2f}]"
    return text


def _kind(method: dict, repeats: int | None = None) -> str:
    notes = [f"{method['metrics']['n_clips']} clips"] if method.get("subset") else []
    if repeats is not None and method.get("repeats", repeats) < repeats:  # a slow recipe run over the first repeats only
        notes.append(f"{method['repeats']} repeat{'s' if method['repeats'] > 1 else ''}")
    return method["kind"] + (f" ({', '.join(notes)})" if notes else "")


def _table(methods: dict[str, dict], columns: tuple[str, ...], cells) -> list[str]:
    """Markdown rows: one per method, ``cells(method, metrics)`` giving the columns after its name."""
    rows = ["| method | " + " | ".join(columns) + " |", "|" + " --- |" * (len(columns) + 1)]
    rows += [f"| {name} | " + " | ".join(cells(method, method["metrics"])) + " |" for name, method in methods.items()]
    return rows


def format_report(report: dict) -> str:
    """The report as two markdown tables: the figures, then how much of them survives the confounds."""
    protocol, data = report["protocol"], report["data"]
    methods = report["methods"]
    how = (
        f"Trained weights from {protocol['weights']} scored as shipped (not retrained); baselines cross-validated "
        f"in speaker-grouped {protocol['folds']}-fold CV × {protocol['repeats']} repeats on this data; "
        if "weights" in protocol
        else f"Speaker-grouped {protocol['folds']}-fold CV × {protocol['repeats']} repeats (seeds {protocol['seeds']}); "
    )
    lines = [
        how +
        f"{data['n_clips']} clips, {data['n_speakers']} speakers, {data['n_deceptive']} deceptive; "
        f"{data['n_female']} female clips ({data['n_female_deceptive']} deceptive). Every row uses the same folds. "
        f"Configurations tried: {protocol['configurations_tried']} ({protocol.get('selection', 'fixed in advance')}).",
        "",
    ]
    lines += _table(methods, ("kind", "ROC AUC", "AUC (female)", "accuracy", "balanced acc.", "ECE"), lambda method, m: (
        _kind(method, protocol["repeats"]), _fmt(m["auc"]), _fmt(m["auc_female"]), _fmt(m["accuracy"]), _fmt(m["balanced_accuracy"]),
        f"{m['ece']['mean']:.3f}"))
    lines += [
        "",
        f"What survives the confounds: AUC among women without the dominant speaker {data['dominant_speaker']} "
        f"({data['n_female_without_dominant']} clips); within-speaker AUC over the (deceptive, truthful) pairs of "
        f"speakers who have both; AUC with clips weighted so both genders have the same deceptive share; the AUC "
        f"of the score for predicting the subject's gender (the label itself predicts it with AUC "
        f"{data['auc_label_gender']:.3f}: a score above that is more a gender detector than the label); and the AUC "
        f"on the {data['n_channel_subset']} clips with ≥ {CHANNEL_MIN_S:g} s of other speakers, where `channel_only` "
        f"hears only those others.",
        "",
    ]
    lines += _table(
        methods,
        ("AUC female w/o dominant", "within-speaker AUC", "gender-balanced AUC", "AUC score→gender", "AUC on channel subset"),
        lambda method, m: (
            _fmt(m["auc_female_without_dominant"]),
            f"{_fmt(m['auc_within_speaker'])} ({m['auc_within_speaker'].get('n_pairs', 0)} pairs)",
            _fmt(m["gender_balanced_auc"]), _fmt(m["auc_score_gender"]), _fmt(m["auc_channel_subset"])),
    )
    lines += ["", "mean ± sd over repeats [95 % CI, bootstrap over speakers of the repeat-averaged out-of-fold scores]."]
    return "\n".join(lines)


def card_figures(report: dict, method: str) -> dict:
    """The ``cv`` and ``baselines`` blocks of a model card, from the report."""
    m = report["methods"][method]["metrics"]
    pick = lambda metric: {"mean": metric["mean"], "std": metric["std"], "ci95": metric.get("ci95")}  # noqa: E731
    cv = {
        name: pick(m[name])
        for name in ("auc", "auc_female", "accuracy", "balanced_accuracy", "auc_female_without_dominant",
                     "auc_within_speaker", "gender_balanced_auc", "auc_channel_subset")
    }
    cv["auc_within_speaker"]["n_pairs"] = m["auc_within_speaker"].get("n_pairs")
    cv["ece"] = m["ece"]["mean"]
    cv["auc_score_gender"] = m["auc_score_gender"]["mean"]
    cv["auc_label_gender"] = report["data"]["auc_label_gender"]
    # The built-in baselines, then rows made elsewhere in the same folds (the original notebook's recipe).
    names = [name for name in BASELINES if name in report["methods"]]
    names += [name for name, row in report["methods"].items() if row.get("kind") == "baseline" and name not in names]
    baselines = {}
    for name in names:
        row = report["methods"][name]
        baselines[name] = {"auc": pick(row["metrics"]["auc"]), "accuracy": pick(row["metrics"]["accuracy"]),
                           "auc_female": pick(row["metrics"]["auc_female"]), "ece": row["metrics"]["ece"]["mean"],
                           "auc_score_gender": row["metrics"]["auc_score_gender"]["mean"]}
        if "repeats" in row:  # a row made over fewer repeats than the report
            baselines[name]["repeats"] = row["repeats"]
    protocol = {k: report["protocol"][k] for k in ("folds", "repeats", "grouped_by")}
    protocol["dominant_speaker"] = report["data"]["dominant_speaker"]
    protocol["configurations_tried"] = report["protocol"].get("configurations_tried", 1)
    protocol["selection"] = report["protocol"].get("selection", "fixed in advance")
    return {"cv": cv, "baselines": baselines, "protocol": protocol}


def save_report(report: dict, directory: Path) -> tuple[Path, Path]:
    """Write ``cv_report.json`` and ``cv_report.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "cv_report.json", directory / "cv_report.md"
    json_path.write_text(jsonutil.dumps(report))
    figures = save_report_figures(report, directory)
    saliency = directory / "saliency.png"  # written by `deceptio train` from the shipped models; kept across evaluations
    md_path.write_text(
        "# Cross-validation report\n\n" + format_report(report) + "\n\n"
        + "".join(f"![{path.stem}]({path.name})\n" for path in figures)
        + (f"![saliency]({saliency.name})\n\n{SALIENCY_CAPTION}\n" if saliency.is_file() else "")
    )
    return json_path, md_path
