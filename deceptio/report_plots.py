"""Figures of a cross-validation report: scores by gender × label, per speaker, and reliability."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save_report_figures"]

_GROUPS = (("F", 0, "F truthful"), ("F", 1, "F deceptive"), ("M", 0, "M truthful"), ("M", 1, "M deceptive"))


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
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.4), sharey=True, squeeze=False)
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _speaker_scores(report: dict, path: Path) -> Path:
    oof = report["out_of_fold"]
    labels, speakers = np.asarray(oof["labels"]), np.asarray(oof["speakers"])
    both = [s for s in np.unique(speakers) if len(np.unique(labels[speakers == s])) == 2]
    names = _shown_methods(report)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.2), sharey=True, squeeze=False)
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _reliability(report: dict, path: Path, n_bins: int = 10) -> Path:
    labels = np.asarray(report["out_of_fold"]["labels"], dtype=float)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_report_figures(report: dict, directory: Path) -> list[Path]:
    """Write the report's PNG figures into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        _score_distributions(report, directory / "score_distributions.png"),
        _speaker_scores(report, directory / "speaker_scores.png"),
        _reliability(report, directory / "reliability.png"),
    ]
