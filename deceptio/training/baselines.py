"""The bias baselines every report puts beside the variants: what a detector gets from gender, the room, plain MFCCs."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deceptio.features import deltas
from deceptio.training.data import ClipFeatures

__all__ = ["BASELINES", "CHANNEL_MIN_S", "baseline_inputs", "baseline_oof"]

BASELINES = {
    "majority": "The larger class for every clip (p = 0.5): chance ranking.",
    "gender_pitch": "Logistic regression on the subject's median pitch: a gender detector.",
    "mfcc_logreg": "Logistic regression on mean and std of MFCCs and deltas (classic acoustic baseline).",
    "channel_only": "mfcc_logreg on the OTHER speakers' turns (lawyers, judges): the room and context, not the subject.",
    "mfcc_logreg_channel_subset": "mfcc_logreg on the subject's turns, trained and scored on the channel_only clips only.",
}
CHANNEL_MIN_S = 1.0  # clips need this much of other speakers' speech for the channel-only baseline


def _mfcc_statistics(mfcc_and_deltas: np.ndarray, frames: np.ndarray) -> np.ndarray:
    selected = mfcc_and_deltas[:, frames]
    return np.concatenate([selected.mean(axis=1), selected.std(axis=1)])


def baseline_inputs(data: list[ClipFeatures], min_other_frames: int) -> dict[str, np.ndarray]:
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


def baseline_oof(name: str, inputs: dict[str, np.ndarray], labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
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
