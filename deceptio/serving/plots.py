"""Matplotlib figures of one analysis: the features the model saw and where it leaned which way.

Both figures are drawn from :attr:`Analysis.features` and :attr:`Analysis.speech`,
the very arrays the variants' input images were built from, on one time axis
in seconds. Frames outside the speech mask are shaded: the model never read
them. Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas,
made without ``pyplot``, so no global figure list grows and nothing needs a
display; long recordings are block-averaged to at most ``max_columns`` frames
for display only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, fft_frequencies, mel_filterbank
from deceptio.modeling.variants import get_variant

__all__ = ["BASE_PANELS", "PANELS", "feature_figure", "panels_for", "timeline_figure"]

# Panel key -> (title, the variant input image it shows). Order is top to bottom.
PANELS: dict[str, tuple[str, str]] = {
    "spectrogram": ("Spectrogram (log-mel)", "spectrogram"),
    "mfcc": ("MFCC c1–c19, standardised per coefficient", "mfcc"),
    "lsf": ("LSF (line spectral frequencies)", "lsf"),
    "lpc": ("LPC coefficients", "lpc"),
    "f0": ("F0 (pitch)", "f0"),
    "centroid": ("Spectral centroid", "centroid"),
    "contrast": ("Spectral contrast", "contrast"),
}
BASE_PANELS: tuple[str, ...] = ("spectrogram", "mfcc", "lsf", "f0")  # shown for every variant

_WIDTH_IN = 12.0
_LEFT, _RIGHT = 0.075, 0.985  # figure fractions, the same in both figures so their time axes line up
_HEIGHTS = {"spectrogram": 1.9, "mfcc": 1.5, "lsf": 1.6, "lpc": 1.3, "f0": 1.4, "centroid": 1.2, "contrast": 1.2}
_NON_SPEECH = {"color": "0.55", "alpha": 0.28, "linewidth": 0, "gid": "non-speech"}
_HZ_TICKS = (100, 250, 500, 1000, 2000, 4000, 8000)


@dataclass(frozen=True)
class _Grid:
    """Display frames: block-averaged columns and their centre times."""

    block: int
    column_s: float  # seconds per display column
    times: np.ndarray  # seconds, centre of each display column
    edges: tuple[float, float]  # seconds, left and right edge of the whole image

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Mean over blocks along the last axis, ignoring NaNs (an all-NaN block stays NaN)."""
        x = np.asarray(x, dtype=np.float64)
        if self.block == 1:
            return x
        n = x.shape[-1]
        pad = (-n) % self.block
        padded = np.concatenate([x, np.full(x.shape[:-1] + (pad,), np.nan)], axis=-1)
        blocks = padded.reshape(x.shape[:-1] + (-1, self.block))
        valid = np.isfinite(blocks)
        count = valid.sum(axis=-1)
        total = np.where(valid, blocks, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _grid(n_frames: int, hop_s: float, max_columns: int) -> _Grid:
    if not isinstance(max_columns, int) or max_columns < 10:
        raise ParameterError(f"max_columns={max_columns!r} must be an integer >= 10")
    block = max(1, -(-n_frames // max_columns))
    n_columns = -(-n_frames // block)
    starts = np.arange(n_columns) * block
    ends = np.minimum(starts + block, n_frames)
    times = (starts + ends - 1) / 2 * hop_s
    return _Grid(block=block, column_s=block * hop_s, times=times, edges=(-0.5 * hop_s, (n_frames - 0.5) * hop_s))


def _reads(variant: str) -> set[str]:
    """Input images a variant (or every member of the ensemble) reads."""
    spec = get_variant(variant)
    return set(spec.images) | {image for member in spec.members for image in get_variant(member).images}


def panels_for(variant: str, reads=None) -> tuple[str, ...]:
    """Panels shown for a variant: the four base panels plus every other feature it reads, in :data:`PANELS` order.

    ``reads`` are the images the loaded models read (an analysis's ``images``,
    from their cards); the registry's by default.
    """
    reads = _reads(variant) if reads is None else set(reads)
    return tuple(key for key, (_, image) in PANELS.items() if key in BASE_PANELS or image in reads)


def _check(analysis) -> tuple[dict[str, np.ndarray], np.ndarray]:
    features = getattr(analysis, "features", None) or {}
    needed = ("log_mel", "mfcc", "lpc", "lsf", "f0", "voiced", "centroid", "contrast", "rms_db")
    missing = [name for name in needed if name not in features]
    if missing:
        raise ParameterError(f"the analysis holds no {missing} features to plot; analyse with Detector.analyze")
    n = features["f0"].shape[-1]
    speech = analysis.speech if analysis.speech is not None else np.ones(n, dtype=bool)
    if speech.shape != (n,):
        raise ParameterError(f"speech mask has shape {speech.shape}, expected ({n},) like the features")
    return features, np.asarray(speech, dtype=bool)


def _shade_non_speech(ax, grid: _Grid, speech_fraction: np.ndarray) -> None:
    off = speech_fraction < 0.5
    if off.any():
        # Both edges of every display column, so runs of non-speech columns join into one span.
        half = grid.column_s / 2
        x = np.repeat(grid.times, 2) + np.tile([-half, half], grid.times.size)
        ax.fill_between(x, 0, 1, where=np.repeat(off, 2), transform=ax.get_xaxis_transform(), **_NON_SPEECH)


def _image(ax, cax, data: np.ndarray, grid: _Grid, *, cmap: str, label: str, vmin=None, vmax=None):
    rows = data.shape[0]
    image = ax.imshow(
        data, origin="lower", aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax,
        extent=(grid.edges[0], grid.edges[1], -0.5, rows - 0.5),
    )
    colorbar = ax.figure.colorbar(image, cax=cax)
    colorbar.set_label(label, fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    return image


def _mel_centres(config: FeatureConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel band: the filter's weighted mean frequency."""
    weights = mel_filterbank(sample_rate=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                             fmin=config.fmin, fmax=config.fmax)
    freqs = fft_frequencies(sample_rate=config.sample_rate, n_fft=config.n_fft)
    return (weights @ freqs) / weights.sum(axis=1)


def _hz_label(value: float, _pos=None) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _contrast_labels(config: FeatureConfig, n_bands: int) -> list[str]:
    edges = [0.0] + [config.contrast_fmin * 2**k for k in range(n_bands - 1)] + [config.sample_rate / 2]
    return [f"{_hz_label(lo)}–{_hz_label(hi)}" for lo, hi in pairwise(edges)]


def _layout(n_rows: int, heights: list[float], top_in: float = 0.6, bottom_in: float = 0.55) -> tuple[Figure, list, list]:
    height = sum(heights) + top_in + bottom_in
    figure = Figure(figsize=(_WIDTH_IN, height), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(
        n_rows, 2, width_ratios=(1.0, 0.012), wspace=0.015, height_ratios=heights, hspace=0.42,
        left=_LEFT, right=_RIGHT - 0.045, top=1 - top_in / height, bottom=bottom_in / height,
    )
    axes, caxes = [], []
    for row in range(n_rows):
        axes.append(figure.add_subplot(grid[row, 0], sharex=axes[0] if axes else None))
        caxes.append(figure.add_subplot(grid[row, 1]))
    return figure, axes, caxes


def feature_figure(
    analysis,
    *,
    variant: str | None = None,
    config: FeatureConfig = FeatureConfig(),
    max_columns: int = 1600,
) -> Figure:
    """The feature panels of one analysis, stacked on a shared time axis in seconds.

    Parameters
    ----------
    analysis : Analysis
        From :meth:`deceptio.Detector.analyze`; its ``features`` and ``speech`` are drawn.
    variant : str, optional
        Which variant's inputs to show besides the base panels (spectrogram,
        MFCC, LSF, F0); ``analysis.variant`` by default. Each title says
        whether the variant reads that feature.
    config : FeatureConfig
        The settings the features were computed with (frame hop, sample
        rate, mel range): ``Detector.feature_config``.
    max_columns : int >= 10
        Display columns at most; longer recordings are block-averaged.

    Returns
    -------
    matplotlib.figure.Figure
        One row per panel of :func:`panels_for`; images carry colour bars,
        frequency axes are in Hz, non-speech frames are shaded grey.
    """
    variant = variant or analysis.variant
    # What the loaded models read, from their cards; the registry's for an analysis made elsewhere.
    reads = set(analysis.images) if getattr(analysis, "images", None) else _reads(variant)
    keys = panels_for(variant, reads)
    features, speech = _check(analysis)
    hop_s = config.hop_length / config.sample_rate
    n_frames = features["f0"].shape[-1]
    grid = _grid(n_frames, hop_s, max_columns)
    speech_fraction = grid.reduce(speech.astype(np.float64))

    figure, axes, caxes = _layout(len(keys), [_HEIGHTS[key] for key in keys])
    for key, ax, cax in zip(keys, axes, caxes):
        title, image_name = PANELS[key]
        read = "read by" if image_name in reads else "not read by"
        ax.set_title(f"{title} — {read} {variant}", fontsize=9, loc="left", pad=3,
                     color="black" if image_name in reads else "0.4")
        ax.tick_params(labelsize=7)
        if key == "spectrogram":
            log_mel = grid.reduce(features["log_mel"])
            top = float(np.nanmax(log_mel))
            _image(ax, cax, log_mel, grid, cmap="magma", label="dB", vmin=top - 80.0, vmax=top)
            centres = _mel_centres(config)
            rows = np.arange(centres.size)
            ticks: list[float] = []
            for hz in _HZ_TICKS:
                row = float(np.interp(hz, centres, rows))
                if centres[0] <= hz <= centres[-1] and (not ticks or row - ticks[-1] >= 0.09 * centres.size):
                    ticks.append(row)
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda v, _p, rows=rows, centres=centres: _hz_label(round(float(np.interp(v, rows, centres)), -1))))
            ax.set_ylabel("Hz", fontsize=8)
        elif key == "mfcc":
            # Standardised per coefficient over the speech frames, as in the model's input image: raw c1
            # spans ten times the range of c10 and would wash the others out.
            mfcc = features["mfcc"][1:].astype(np.float64)
            reference = mfcc[:, speech] if speech.any() else mfcc
            z = (mfcc - reference.mean(axis=1, keepdims=True)) / np.maximum(reference.std(axis=1, keepdims=True), 1e-6)
            _image(ax, cax, grid.reduce(z), grid, cmap="coolwarm", label="z per coeff.", vmin=-3, vmax=3)
            ax.yaxis.set_major_locator(FixedLocator([0, 4, 9, 14, mfcc.shape[0] - 1]))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"c{round(v) + 1}"))
            ax.set_ylabel("coeff.", fontsize=8)
        elif key == "lpc":
            lpc = grid.reduce(features["lpc"])
            limit = float(np.nanpercentile(np.abs(lpc), 99)) or 1.0
            _image(ax, cax, lpc, grid, cmap="RdBu_r", label="value", vmin=-limit, vmax=limit)
            ax.yaxis.set_major_locator(FixedLocator([0, 3, 7, 11, lpc.shape[0] - 1]))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"a{round(v) + 1}"))
            ax.set_ylabel("coeff.", fontsize=8)
        elif key == "contrast":
            contrast = grid.reduce(features["contrast"])
            _image(ax, cax, contrast, grid, cmap="viridis", label="dB")
            labels = _contrast_labels(config, contrast.shape[0])
            ax.yaxis.set_major_locator(FixedLocator([0, contrast.shape[0] // 2, contrast.shape[0] - 1]))
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda v, _p, labels=labels: labels[round(v)] if 0 <= round(v) < len(labels) else ""))
            ax.set_ylabel("Hz band", fontsize=8)
        else:
            cax.set_axis_off()
            if key == "lsf":
                hz = grid.reduce(features["lsf"] * (config.sample_rate / (2 * np.pi)))
                for line in np.clip(hz, 20.0, None):
                    ax.plot(grid.times, line, color="#1f4e79", linewidth=0.6)
                ax.set_yscale("log")
                ax.set_ylim(50, config.sample_rate / 2)
            elif key == "f0":
                voiced = features["voiced"] & (features["f0"] > 0)
                f0 = grid.reduce(np.where(voiced, features["f0"], np.nan))
                voiced_fraction = grid.reduce(voiced.astype(np.float64))
                f0[voiced_fraction < 0.5] = np.nan
                ax.plot(grid.times, f0, color="#b5179e", linewidth=1.0, marker=".", markersize=1.5)
                ax.fill_between(grid.times, 0, 0.07, where=voiced_fraction >= 0.5, transform=ax.get_xaxis_transform(),
                                color="#b5179e", alpha=0.35, linewidth=0, label="voiced")
                ax.set_ylim(config.f0_min * 0.8, config.f0_max)
                ax.set_yscale("log")
                ax.legend(loc="upper right", fontsize=7, frameon=False)
            elif key == "centroid":
                centroid = grid.reduce(np.where(features["centroid"] > 0, features["centroid"], np.nan))
                ax.plot(grid.times, centroid, color="#2a9d8f", linewidth=0.8)
                ax.set_yscale("log")
                ax.set_ylim(100, config.sample_rate / 2)
            ax.yaxis.set_major_locator(FixedLocator([hz for hz in (50, 100, 200, 500, 1000, 2000, 4000, 8000) if hz <= config.sample_rate / 2]))
            ax.yaxis.set_major_formatter(FuncFormatter(_hz_label))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_ylabel("Hz", fontsize=8)
            ax.grid(axis="y", color="0.85", linewidth=0.5)
        _shade_non_speech(ax, grid, speech_fraction)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlim(grid.edges)
    axes[-1].set_xlabel("time (s) — grey: not speech, not read by the model", fontsize=8)
    return figure


def timeline_figure(
    analysis,
    *,
    config: FeatureConfig = FeatureConfig(),
    max_columns: int = 1600,
) -> Figure:
    """The recording's level envelope and, under it, p(deceptive) of every analysis window.

    The envelope is the frame RMS (``features["rms_db"]``) drawn as a
    waveform outline, grey where the speech mask is off. Each window's
    calibrated p(deceptive) is a horizontal segment over the time it covers;
    the 0.5 line and the inconclusive band ``0.5 ± analysis.band`` are marked,
    and the recording's overall p is a dashed line.
    """
    features, speech = _check(analysis)
    hop_s = config.hop_length / config.sample_rate
    n_frames = features["rms_db"].shape[-1]
    grid = _grid(n_frames, hop_s, max_columns)
    speech_fraction = grid.reduce(speech.astype(np.float64))
    figure, (wave, timeline), caxes = _layout(2, [1.2, 1.9])
    for cax in caxes:
        cax.set_axis_off()

    amplitude = grid.reduce(10.0 ** (features["rms_db"].astype(np.float64) / 20.0))
    peak = float(np.nanmax(amplitude)) or 1.0
    envelope = amplitude / peak
    wave.fill_between(grid.times, -envelope, envelope, color="#3a5a80", linewidth=0, step="mid", label="speech")
    quiet = speech_fraction < 0.5
    wave.fill_between(grid.times, -envelope, envelope, where=quiet, color="0.6", linewidth=0, step="mid", label="not speech")
    wave.set_ylim(-1.05, 1.05)
    wave.set_yticks([])
    wave.set_ylabel("level", fontsize=8)
    wave.set_title(f"Waveform (RMS envelope) and p(deceptive) per {len(analysis.windows)} windows — {analysis.variant}",
                   fontsize=9, loc="left", pad=3)
    wave.legend(loc="upper right", fontsize=7, frameon=False, ncol=2)
    wave.tick_params(labelbottom=False, labelsize=7)

    band = float(analysis.band)
    timeline.axhspan(0.5 - band, 0.5 + band, color="0.85", linewidth=0, label=f"inconclusive (0.5 ± {band:.2f})")
    timeline.axhline(0.5, color="0.3", linewidth=0.8)
    for window in analysis.windows:
        colour = "#c0392b" if window.p_deceptive >= 0.5 + band else "#2471a3" if window.p_deceptive <= 0.5 - band else "0.35"
        timeline.plot((window.start, window.end), (window.p_deceptive,) * 2, color=colour, linewidth=2.2, alpha=0.8,
                      solid_capstyle="butt", gid="window")
    if analysis.windows:
        centres = [(w.start + w.end) / 2 for w in analysis.windows]
        timeline.plot(centres, [w.p_deceptive for w in analysis.windows], color="0.2", linewidth=0.6, alpha=0.6)
    timeline.axhline(analysis.p_deceptive, color="black", linestyle="--", linewidth=0.9,
                     label=f"whole recording: {analysis.p_deceptive:.2f}")
    _shade_non_speech(timeline, grid, speech_fraction)
    timeline.set_ylim(0, 1)
    timeline.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    timeline.set_ylabel("p(deceptive)", fontsize=8)
    timeline.text(1.0, 0.97, "deceptive ↑", transform=timeline.transAxes, ha="right", va="top", fontsize=7, color="#c0392b")
    timeline.text(1.0, 0.03, "truthful ↓", transform=timeline.transAxes, ha="right", va="bottom", fontsize=7, color="#2471a3")
    timeline.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
    timeline.tick_params(labelsize=7)
    timeline.set_xlim(grid.edges)
    timeline.set_xlabel("time (s)", fontsize=8)
    return figure
