"""The page's figures: panels per variant, a shared time axis in seconds, Hz axes, colour bars, shading, timeline."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import synthetic_speech
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage

from deceptio.errors import ParameterError, UnknownVariantError
from deceptio.features import FeatureConfig, compute_features
from deceptio.serving.detector import Analysis, WindowPrediction
from deceptio.serving.plots import (
    BASE_PANELS,
    PANELS,
    feature_figure,
    panels_for,
    timeline_figure,
)
from deceptio.modeling.variants import VARIANTS

CONFIG = FeatureConfig()
HOP_S = CONFIG.hop_length / CONFIG.sample_rate


def _analysis(y: np.ndarray, *, variant: str = "ensemble", speech: np.ndarray | None = None,
              windows: tuple[WindowPrediction, ...] = (), p: float = 0.5, band: float = 0.1) -> Analysis:
    features = compute_features(y, config=CONFIG)
    n = features["f0"].size
    return Analysis(verdict="inconclusive", p_deceptive=p, variant=variant, windows=windows, band=band,
                    duration_s=y.size / CONFIG.sample_rate, speech_s=0.0, features=features,
                    speech=np.ones(n, dtype=bool) if speech is None else speech)


def _main_axes(figure):
    """Panel axes (left column), top to bottom; the right column holds colour bars."""
    return [ax for ax in figure.axes if ax.get_subplotspec().colspan.start == 0]


def _colour_bars(figure):
    return [ax for ax in figure.axes if ax.get_subplotspec().colspan.start == 1]


@pytest.fixture(scope="module")
def speech_analysis() -> Analysis:
    y = synthetic_speech(6.0, seed=3)
    return _analysis(y)


def test_panels_for_each_variant_show_the_base_four_plus_what_it_reads():
    assert panels_for("spec_mfcc") == BASE_PANELS
    assert panels_for("lsf_lpc") == ("spectrogram", "mfcc", "lsf", "lpc", "f0")
    assert set(panels_for("prosody")) == set(BASE_PANELS) | {"centroid", "contrast"}
    assert panels_for("ensemble") == tuple(PANELS)
    with pytest.raises(UnknownVariantError, match="known variants"):
        panels_for("no_such_variant")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_feature_figure_has_one_panel_per_feature_on_a_shared_time_axis(speech_analysis, variant):
    figure = feature_figure(speech_analysis, variant=variant, config=CONFIG)
    axes = _main_axes(figure)
    keys = panels_for(variant)
    assert len(axes) == len(keys)
    reads = set(VARIANTS[variant].images) | {i for m in VARIANTS[variant].members for i in VARIANTS[m].images}
    for key, ax in zip(keys, axes):
        title = ax.get_title(loc="left")
        assert title.startswith(PANELS[key][0])
        assert ("not read by" in title) == (PANELS[key][1] not in reads)
        assert axes[0].get_shared_x_axes().joined(axes[0], ax)
    duration = speech_analysis.duration_s
    left, right = axes[-1].get_xlim()
    assert left <= 0 < duration - 0.05 <= right <= duration + 0.05
    assert "time (s)" in axes[-1].get_xlabel()
    figure.savefig(io.BytesIO(), format="png")  # renders without error


def test_image_panels_have_colour_bars_and_frequency_panels_are_in_hz(speech_analysis):
    figure = feature_figure(speech_analysis, variant="ensemble", config=CONFIG)
    axes = dict(zip(panels_for("ensemble"), _main_axes(figure)))
    bars = dict(zip(panels_for("ensemble"), _colour_bars(figure)))
    for key in ("spectrogram", "mfcc", "lpc", "contrast"):
        assert any(isinstance(artist, AxesImage) for artist in axes[key].get_children()), key
        assert bars[key].axison and bars[key].get_ylabel(), key  # a labelled colour bar
    for key in ("lsf", "f0", "centroid"):
        assert not bars[key].axison
    for key in ("spectrogram", "lsf", "f0", "centroid"):
        assert axes[key].get_ylabel() == "Hz", key
    assert bars["spectrogram"].get_ylabel() == "dB"


def _tone(freq: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * CONFIG.sample_rate)) / CONFIG.sample_rate
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 1e-4 * rng.standard_normal(t.size)).astype(np.float32)


def test_spectrogram_hz_ticks_put_a_1khz_tone_at_1k():
    figure = feature_figure(_analysis(_tone(1000.0)), variant="spec_mfcc", config=CONFIG)
    ax = _main_axes(figure)[0]
    image = next(a for a in ax.get_children() if isinstance(a, AxesImage)).get_array()
    row = int(np.argmax(np.asarray(image).mean(axis=1)))
    label = ax.yaxis.get_major_formatter()(row, None)
    hz = float(label[:-1]) * 1000 if label.endswith("k") else float(label)
    assert 900 <= hz <= 1100, label
    labels = [ax.yaxis.get_major_formatter()(tick, None) for tick in ax.get_yticks()]
    assert "1k" in labels and "500" in labels


def test_f0_panel_draws_a_200hz_tone_at_200hz():
    figure = feature_figure(_analysis(_tone(200.0)), variant="prosody", config=CONFIG)
    ax = dict(zip(panels_for("prosody"), _main_axes(figure)))["f0"]
    y = ax.get_lines()[0].get_ydata()
    assert np.isfinite(y).mean() > 0.8
    assert abs(np.nanmedian(y) - 200.0) < 4.0


def test_lsf_panel_draws_one_line_per_lsf_in_hz_within_nyquist(speech_analysis):
    figure = feature_figure(speech_analysis, variant="lsf_lpc", config=CONFIG)
    ax = dict(zip(panels_for("lsf_lpc"), _main_axes(figure)))["lsf"]
    lines = ax.get_lines()
    assert len(lines) == CONFIG.lpc_order
    medians = [np.nanmedian(line.get_ydata()) for line in lines]
    assert np.all(np.diff(medians) > 0)  # LSFs are ordered
    assert 0 < medians[0] and medians[-1] < CONFIG.sample_rate / 2


def _shaded_spans(ax) -> list[tuple[float, float]]:
    spans = []
    for collection in ax.collections:
        if isinstance(collection, PolyCollection) and collection.get_gid() == "non-speech":
            for path in collection.get_paths():
                x = path.vertices[:, 0]
                spans.append((float(x.min()), float(x.max())))
    return spans


def test_non_speech_frames_are_shaded_and_speech_is_not():
    y = synthetic_speech(6.0, seed=1)
    n = 1 + y.size // CONFIG.hop_length
    speech = np.ones(n, dtype=bool)
    speech[200:300] = False  # 2.0–3.0 s
    figure = feature_figure(_analysis(y, speech=speech), variant="spec_mfcc", config=CONFIG)
    for ax in _main_axes(figure):
        spans = _shaded_spans(ax)
        assert any(lo <= 2.05 and hi >= 2.95 for lo, hi in spans), spans
        assert not any(lo < 1.5 < hi or lo < 4.0 < hi for lo, hi in spans), spans


def test_long_recordings_are_block_averaged_for_display():
    rng = np.random.default_rng(0)
    n = 30_000  # five minutes of 10 ms frames
    features = {
        "log_mel": rng.normal(-40, 10, (CONFIG.n_mels, n)).astype(np.float32),
        "mfcc": rng.normal(0, 10, (CONFIG.n_mfcc, n)).astype(np.float32),
        "lpc": rng.normal(0, 1, (CONFIG.lpc_order, n)).astype(np.float32),
        "lsf": np.sort(rng.uniform(0.05, 3.0, (CONFIG.lpc_order, n)), axis=0).astype(np.float32),
        "f0": rng.uniform(90, 200, n).astype(np.float32),
        "voiced": rng.random(n) > 0.3,
        "centroid": rng.uniform(500, 3000, n).astype(np.float32),
        "contrast": rng.normal(20, 5, (CONFIG.n_contrast_bands + 1, n)).astype(np.float32),
        "rms_db": rng.normal(-30, 5, n).astype(np.float32),
    }
    analysis = Analysis(verdict="truthful", p_deceptive=0.2, variant="ensemble", windows=(), band=0.1,
                        duration_s=n * HOP_S, speech_s=n * HOP_S, features=features, speech=rng.random(n) > 0.2)
    figure = feature_figure(analysis, config=CONFIG, max_columns=500)
    for ax in _main_axes(figure):
        for image in (a for a in ax.get_children() if isinstance(a, AxesImage)):
            assert image.get_array().shape[1] <= 500
        for line in ax.get_lines():
            assert line.get_xdata().size <= 500
        assert ax.get_xlim()[1] == pytest.approx(n * HOP_S, abs=0.1)
    assert _main_axes(timeline_figure(analysis, config=CONFIG, max_columns=500))[0].collections[0].get_paths()
    with pytest.raises(ParameterError, match="max_columns"):
        feature_figure(analysis, config=CONFIG, max_columns=0)


def test_timeline_draws_each_window_at_its_probability_with_the_inconclusive_band():
    y = synthetic_speech(8.0, seed=2)
    windows = (WindowPrediction(0.0, 4.0, 0.2), WindowPrediction(2.0, 6.0, 0.55), WindowPrediction(4.0, 8.0, 0.9))
    analysis = _analysis(y, windows=windows, p=0.6, band=0.15, variant="lsf_lpc")
    figure = timeline_figure(analysis, config=CONFIG)
    wave, timeline = _main_axes(figure)
    segments = [line for line in timeline.get_lines() if line.get_gid() == "window"]
    assert all(line.get_ydata()[0] == line.get_ydata()[1] for line in segments)
    drawn = sorted((tuple(s.get_xdata()), s.get_ydata()[0]) for s in segments)
    assert drawn == [((w.start, w.end), w.p_deceptive) for w in windows]
    overall = [line for line in timeline.get_lines() if line.get_linestyle() == "--"]
    assert overall and overall[0].get_ydata()[0] == pytest.approx(0.6)
    band = [p for p in timeline.patches if p.get_label().startswith("inconclusive")]
    assert band, "the inconclusive band is shaded"
    corners = band[0].get_path().transformed(band[0].get_patch_transform()).vertices
    assert corners[:, 1].min() == pytest.approx(0.35) and corners[:, 1].max() == pytest.approx(0.65)
    assert timeline.get_ylim() == (0.0, 1.0)
    assert timeline.get_ylabel() == "p(deceptive)" and "time (s)" in timeline.get_xlabel()
    assert wave.get_shared_x_axes().joined(wave, timeline)
    assert "lsf_lpc" in wave.get_title(loc="left")
    figure.savefig(io.BytesIO(), format="png")


def test_an_analysis_without_features_is_refused():
    bare = Analysis(verdict="truthful", p_deceptive=0.1, variant="spec_mfcc", windows=(), band=0.1,
                    duration_s=1.0, speech_s=1.0)
    with pytest.raises(ParameterError, match="features"):
        feature_figure(bare, config=CONFIG)
