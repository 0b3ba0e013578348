"""Figures of a cross-validation report: scores by gender × label, per speaker, and reliability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["save_report_figures"]

_GROUPS = (("F", 0, "F truthful"), ("F", 1, "F deceptive"), ("M", 0, "M truthful"), ("M", 1, "M deceptive"))


def _figure(rows: int, columns: int, **kwargs) -> tuple[Figure, np.ndarray]:
    """A figure of its own (no pyplot state, no global backend), with a grid of axes."""
    fig = Figure(figsize=kwargs.pop("figsize"))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False, **kwargs)


def _save(fig: Figure, path: Path, dpi: int = 110) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def _shown_methods(report: dict) -> list[str]:
    return [name for name, m in report["methods"].items() if m["kind"] in ("variant", "ensemble")] + [
        name for name in ("mfcc_logreg", "gender_pitch") if name in report["methods"]
    ]


def _mean_scores(report: dict, name: str) -> np.ndarray:
    return np.mean(np.asarray(report["out_of_fold"]["probabilities"][name], dtype=float), axis=0)


def _score_distributions(report: dict, path: Path) -> Path:
    oof = report["out_of_fold"]
    labels, genders = np.asarray(oof["labels"]), np.asarray(oof["genders"])
    names = _shown_methods(report)
    fig, axes = _figure(1, len(names), figsize=(2.6 * len(names), 3.4), sharey=True)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[0], names):
        scores = _mean_scores(report, name)
        for x, (gender, label, _) in enumerate(_GROUPS):
            values = scores[(genders == gender) & (labels == label)]
            ax.scatter(x + rng.uniform(-0.15, 0.15, values.size), values, s=9, alpha=0.6, color="C3" if label else "C0")
            if values.size:
                ax.hlines(np.median(values), x - 0.3, x + 0.3, color="k", lw=1.5)
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_xticks(range(len(_GROUPS)), [g[2] for g in _GROUPS], rotation=45, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("out-of-fold p(deceptive)\n(mean over repeats)")
    fig.suptitle("Scores by gender × label: a gender detector separates F from M, not truthful from deceptive", fontsize=9)
    return _save(fig, path)


def _speaker_scores(report: dict, path: Path) -> Path:
    oof = report["out_of_fold"]
    labels, speakers = np.asarray(oof["labels"]), np.asarray(oof["speakers"])
    both = [s for s in np.unique(speakers) if len(np.unique(labels[speakers == s])) == 2]
    names = _shown_methods(report)
    fig, axes = _figure(1, len(names), figsize=(2.6 * len(names), 3.2), sharey=True)
    for ax, name in zip(axes[0], names):
        scores = _mean_scores(report, name)
        for x, speaker in enumerate(both):
            mine = speakers == speaker
            for label, colour, offset in ((0, "C0", -0.12), (1, "C3", 0.12)):
                values = scores[mine & (labels == label)]
                ax.scatter(np.full(values.size, x + offset), values, s=12, color=colour, alpha=0.7)
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_xticks(range(len(both)), both, fontsize=8)
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("p(deceptive): blue truthful, red deceptive")
    fig.suptitle("Speakers with both labels: are a person's own lies scored above her own truths?", fontsize=9)
    return _save(fig, path)


def _reliability(report: dict, path: Path, n_bins: int = 10) -> Path:
    labels = np.asarray(report["out_of_fold"]["labels"], dtype=float)
    fig, axes = _figure(1, 1, figsize=(4.2, 4.2))
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    for name in _shown_methods(report):
        p = np.concatenate([np.asarray(r, dtype=float) for r in report["out_of_fold"]["probabilities"][name]])
        y = np.tile(labels, len(report["out_of_fold"]["probabilities"][name]))
        keep = np.isfinite(p)
        p, y = p[keep], y[keep]
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        xs, ys = [], []
        for b in np.unique(bins):
            xs.append(p[bins == b].mean())
            ys.append(y[bins == b].mean())
        ax.plot(xs, ys, marker="o", ms=3, lw=1, label=name)
    ax.set_xlabel("predicted p(deceptive)")
    ax.set_ylabel("share deceptive")
    ax.set_title("Reliability of out-of-fold probabilities", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def save_report_figures(report: dict, directory: Path) -> list[Path]:
    """Write the report's PNG figures into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        _score_distributions(report, directory / "score_distributions.png"),
        _speaker_scores(report, directory / "speaker_scores.png"),
        _reliability(report, directory / "reliability.png"),
    ]


def save_saliency_figure(detector, data: list, path: Path, *, variant: str = "spec_prosody", per_label: int = 2) -> Path:
    """Class activation maps of one shipped variant over a few clips' input images (the first clips of each label).

    These clips were in the shipped model's training data: the figure shows
    what the model attends to, not how well it generalises.
    """
    chosen = [item for label in (1, 0) for item in [d for d in data if d.clip.label == label][:per_label]]
    rows = detector.model_input(variant).rows()  # image name -> rows, as the card records them
    images_rows = tuple(rows)
    fig, axes = _figure(len(chosen), 2, figsize=(11, 2.2 * len(chosen)))
    frames_per_s = detector.feature_config.sample_rate / detector.feature_config.hop_length
    for row, item in zip(axes, chosen):
        frames = item.subject_frames[: int(12 * frames_per_s)]  # the first 12 s of the subject's speech
        score = detector.score_frames(item.features, frames, variant=variant)
        image = np.concatenate([score.images[name] for name in images_rows])
        cam = detector.saliency_maps(score.images, variant=variant)[variant]
        extent = [0, frames.size / frames_per_s, image.shape[0], 0]
        row[0].imshow(image, aspect="auto", cmap="magma", extent=extent)
        row[1].imshow(image, aspect="auto", cmap="gray", extent=extent)
        limit = float(np.abs(cam).max()) or 1.0
        row[1].imshow(cam, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.55, extent=extent)
        label = "deceptive" if item.clip.label else "truthful"
        row[0].set_title(f"{item.clip.id} ({label}, {item.clip.gender}): {variant} input, p = {score.p:.2f}", fontsize=8)
        row[1].set_title("class activation map: red raised p(deceptive), blue lowered it", fontsize=8)
        edges = np.cumsum([0] + list(rows.values()))
        for ax in row:
            ax.set_yticks((edges[:-1] + edges[1:]) / 2, images_rows, fontsize=7)
            ax.set_xlabel("seconds of subject speech", fontsize=7)
    return _save(fig, path, dpi=90)
