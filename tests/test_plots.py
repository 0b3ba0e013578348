"""The figures of an analysis: panels per variant, a shared time axis in seconds, Hz axes, colour bars, shading, masks,
the timeline; the data both renderers draw (figure_data) and the static matplotlib figures (plots)."""

from __future__ import annotations

import io
from itertools import pairwise

import numpy as np
import pytest
from conftest import synthetic_speech
from matplotlib.collections import PolyCollection
from matplotlib.colors import rgb_to_hsv, to_hex, to_rgb
from matplotlib.image import AxesImage

from deceptio.errors import ParameterError, UnknownVariantError
from deceptio.features import FeatureConfig, compute_features
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.variants import VARIANTS
from deceptio.serving.detector import Analysis, WindowPrediction
from deceptio.serving.figure_data import CATEGORIES, feature_view, timeline_view
from deceptio.serving.plots import (
    BASE_PANELS,
    PANELS,
    feature_figure,
    panels_for,
    timeline_figure,
)

CONFIG = FeatureConfig()
HOP_S = CONFIG.hop_length / CONFIG.sample_rate


def _analysis(y: np.ndarray, *, variant: str = "ensemble", speech: np.ndarray | None = None,
              windows: tuple[WindowPrediction, ...] = (), p: float = 0.5, band: float = 0.1) -> Analysis:
    features = compute_features(y, config=CONFIG)
    n = features["f0"].size
    return Analysis(verdict="inconclusive", p_deceptive=p, variant=variant, windows=windows, band=band,
                    duration_s=y.size / CONFIG.sample_rate, speech_s=0.0, features=features,
                    speech=np.ones(n, dtype=bool) if speech is None else speech)


def _made_analysis(n: int, rng: np.random.Generator, *, speech: np.ndarray | None = None, windows=(), **features):
    """An analysis of ``n`` frames of hand-made features (random unless given), all speech unless told."""
    made = {
        "log_mel": rng.normal(-40, 10, (CONFIG.n_mels, n)).astype(np.float32),
        "mfcc": rng.normal(0, 10, (CONFIG.n_mfcc, n)).astype(np.float32),
        "lpc": rng.normal(0, 1, (CONFIG.lpc_order, n)).astype(np.float32),
        "lsf": np.sort(rng.uniform(0.05, 3.0, (CONFIG.lpc_order, n)), axis=0).astype(np.float32),
        "f0": rng.uniform(90, 200, n).astype(np.float32),
        "voiced": rng.random(n) > 0.3,
        "centroid": rng.uniform(500, 3000, n).astype(np.float32),
        "contrast": rng.normal(20, 5, (CONFIG.n_contrast_bands + 1, n)).astype(np.float32),
        "rms_db": rng.normal(-30, 5, n).astype(np.float32),
        **features,
    }
    return Analysis(verdict="truthful", p_deceptive=0.2, variant="ensemble", windows=tuple(windows), band=0.1,
                    duration_s=n * HOP_S, speech_s=n * HOP_S, features=made,
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
        assert title.endswith("(not read)") == (PANELS[key][1] not in reads)
        assert variant not in title  # said once, in the header
        assert axes[0].get_shared_x_axes().joined(axes[0], ax)
    header = next(text.get_text() for text in figure.texts if text.get_gid() == "header")
    assert header.startswith(f"Read by {variant}: ") and header.count(variant) == 1
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
    assert bars["spectrogram"].get_ylabel() == "level (dB)"
    assert bars["lpc"].get_ylabel() == "LPC coefficient (unitless)"  # names what it shows, not "value"


def test_spectral_contrast_labels_every_band(speech_analysis):
    figure = feature_figure(speech_analysis, variant="ensemble", config=CONFIG)
    ax = dict(zip(panels_for("ensemble"), _main_axes(figure)))["contrast"]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert len(labels) == CONFIG.n_contrast_bands + 1 == 7
    assert labels[0] == "0–200" and labels[1] == "200–400" and labels[-1] == "6.4k–8k", labels


def _tone(freq: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * CONFIG.sample_rate)) / CONFIG.sample_rate
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 1e-4 * rng.standard_normal(t.size)).astype(np.float32)


def test_spectrogram_hz_ticks_put_a_1khz_tone_at_1k():
    figure = feature_figure(_analysis(_tone(1000.0)), variant="spec_mfcc", config=CONFIG)
    ax = _main_axes(figure)[0]
    image = next(a for a in ax.get_children() if isinstance(a, AxesImage)).get_array()
    row = int(np.argmax(np.asarray(image).mean(axis=1)))
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert "1k" in labels and "500" in labels
    assert abs(ax.get_yticks()[labels.index("1k")] - row) <= 1.0, (row, dict(zip(labels, ax.get_yticks())))


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
    analysis = _made_analysis(n, rng, speech=rng.random(n) > 0.2)
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


def _window_bars(ax):
    """(left, right, centre height, colour) of every window bar in the timeline, left to right."""
    bars = [patch for patch in ax.patches if patch.get_gid() == "window"]
    return sorted((bar.get_x(), bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2,
                   to_hex(bar.get_facecolor())) for bar in bars)


def test_timeline_bars_cover_their_own_stretch_without_overlap_coloured_by_lean():
    y = synthetic_speech(8.0, seed=2)
    # Overlapping 4 s windows every 2 s, as the models score them.
    windows = (WindowPrediction(0.0, 4.0, 0.2), WindowPrediction(2.0, 6.0, 0.55), WindowPrediction(4.0, 8.0, 0.9))
    analysis = _analysis(y, windows=windows, p=0.6, band=0.15, variant="lsf_lpc")
    figure = timeline_figure(analysis, config=CONFIG, window=WindowConfig(window_frames=400, hop_frames=200))
    wave, timeline = _main_axes(figure)
    bars = _window_bars(timeline)
    # Each bar spans the stretch nearer its window's centre than any other's: (0, 3), (3, 5), (5, 8).
    assert [(left, right) for left, right, _, _ in bars] == [pytest.approx((0, 3)), pytest.approx((3, 5)),
                                                              pytest.approx((5, 8))]
    assert all(a[1] <= b[0] for a, b in pairwise(bars))  # no overlap
    assert [height for _, _, height, _ in bars] == pytest.approx([w.p_deceptive for w in windows])
    colours = {key: colour for key, (_, colour) in CATEGORIES.items()}
    assert [colour for *_, colour in bars] == [colours["truthful"], colours["inconclusive"], colours["deceptive"]]
    band = next(p for p in timeline.patches if p.get_gid() == "band")
    corners = band.get_path().transformed(band.get_patch_transform()).vertices
    assert corners[:, 1].min() == pytest.approx(0.35) and corners[:, 1].max() == pytest.approx(0.65)
    # Inconclusive bars are a colour, not grey on the band's grey.
    assert rgb_to_hsv(to_rgb(colours["inconclusive"]))[1] > 0.5 and rgb_to_hsv(to_rgb(band.get_facecolor()))[1] < 0.05
    overall = [line for line in timeline.get_lines() if line.get_linestyle() == "--"]
    assert overall and overall[0].get_ydata()[0] == pytest.approx(0.6)
    legend = [text.get_text() for text in timeline.get_legend().get_texts()]
    assert legend[:3] == ["leans deceptive (p ≥ 0.65)", "leans truthful (p ≤ 0.35)", "inconclusive (0.35 < p < 0.65)"]
    assert "whole recording: 0.60" in legend
    assert timeline.get_ylim() == (0.0, 1.0)
    assert timeline.get_ylabel() == "p(deceptive)" and "time (s)" in timeline.get_xlabel()
    assert wave.get_shared_x_axes().joined(wave, timeline)
    # The variant, the windows and their length and hop are said once, in the header.
    header = next(text.get_text() for text in figure.texts if text.get_gid() == "header")
    assert header == "lsf_lpc: p(deceptive) of 3 windows, each 4 s of speech, one every 2 s"
    assert "lsf_lpc" not in wave.get_title(loc="left") + timeline.get_title(loc="left")
    figure.savefig(io.BytesIO(), format="png")


def test_bars_of_windows_without_overlap_keep_to_their_windows():
    windows = (WindowPrediction(1.0, 3.0, 0.3), WindowPrediction(5.0, 7.0, 0.7))
    bars = timeline_view(_analysis(synthetic_speech(8.0, seed=2), windows=windows), config=CONFIG).bars
    assert [(bar.left, bar.right) for bar in bars] == [(1.0, 4.0), (4.0, 7.0)]
    assert [bar.category for bar in bars] == ["truthful", "deceptive"]
    assert timeline_view(_analysis(synthetic_speech(3.0, seed=2)), config=CONFIG).bars == ()


def test_the_waveform_shades_what_is_not_speech():
    y = synthetic_speech(6.0, seed=1)
    speech = np.ones(1 + y.size // CONFIG.hop_length, dtype=bool)
    speech[200:300] = False  # 2.0–3.0 s
    wave, timeline = _main_axes(timeline_figure(_analysis(y, speech=speech), config=CONFIG))
    for ax in (wave, timeline):
        spans = _shaded_spans(ax)
        assert len(spans) == 1 and spans[0] == pytest.approx((1.995, 2.995), abs=0.011), spans
    assert "not speech (not read by the model)" in [text.get_text() for text in wave.get_legend().get_texts()]


def test_contours_have_gaps_where_they_mean_nothing(rng):
    n = 600
    speech = np.ones(n, dtype=bool)
    speech[200:300] = False  # a pause the speech detector found
    voiced = np.ones(n, dtype=bool)
    voiced[400:450] = False  # unvoiced speech
    level = np.full(n, -20.0, dtype=np.float32)
    level[500:540] = -80.0  # a silent gap inside speech
    f0 = np.full(n, 150.0, dtype=np.float32)
    f0[100:104] = 300.0  # an octave error
    analysis = _made_analysis(n, rng, speech=speech, f0=f0, voiced=voiced, rms_db=level)
    view = feature_view(analysis, config=CONFIG, max_columns=n)  # one column per frame
    panels = {panel.key: panel for panel in view.panels}
    (f0_line,) = panels["f0"].lines
    shown = np.isfinite(f0_line)
    assert not shown[200:300].any() and not shown[400:450].any() and not shown[500:540].any()
    assert shown[:200].all() and shown[300:400].all()
    assert np.nanmax(f0_line) == pytest.approx(150.0)  # the octave error is drawn where it belongs
    for key in ("lsf", "centroid"):
        for line in panels[key].lines:
            assert not np.isfinite(line[200:300]).any() and not np.isfinite(line[500:540]).any(), key
            assert np.isfinite(line[:200]).all() and np.isfinite(line[400:450]).all(), key  # unvoiced speech stays
    assert view.non_speech == (pytest.approx((1.995, 2.995)),)
    assert view.f0_median == pytest.approx(150.0)
    # The matplotlib figure draws those very arrays.
    ax = dict(zip(panels_for("ensemble"), _main_axes(feature_figure(analysis, config=CONFIG, max_columns=n))))["f0"]
    np.testing.assert_array_equal(np.isfinite(ax.get_lines()[0].get_ydata()), shown)


def test_an_analysis_without_features_is_refused():
    bare = Analysis(verdict="truthful", p_deceptive=0.1, variant="spec_mfcc", windows=(), band=0.1,
                    duration_s=1.0, speech_s=1.0)
    with pytest.raises(ParameterError, match="features"):
        feature_figure(bare, config=CONFIG)


@pytest.mark.timeout(120)
def test_the_static_figure_draws_the_overlays_only_when_asked_for(rng):
    from deceptio.serving.figure_data import image_evidence

    y = synthetic_speech(6.0, seed=1)
    n = 1 + y.size // CONFIG.hop_length
    speech = np.ones(n, dtype=bool)
    speech[200:300] = False
    analysis = _analysis(y, speech=speech)
    frames = np.flatnonzero(speech)
    maps = {"spec_mfcc": rng.normal(0.0, 1.0, (124, frames.size))}
    evidence = image_evidence(maps, {"spec_mfcc": {"spectrogram": 64, "mfcc": 60}}, frames=frames, n_frames=n)

    def drawn(figure):
        axes = [ax for ax in figure.axes if ax.get_gid() != "f0-axis"]
        main = dict(zip(panels_for("spec_mfcc"), _main_axes_of(axes)))
        saliency = {key for key, ax in main.items() if any(c.get_gid() == "saliency" for c in ax.collections)}
        twins = [ax for ax in figure.axes if ax.get_gid() == "f0-axis"]
        lsf = [line for line in main["spectrogram"].get_lines() if line.get_gid() == "lsf-track"]
        return main, saliency, twins, lsf

    _, saliency, twins, lsf = drawn(feature_figure(analysis, variant="spec_mfcc", config=CONFIG))
    assert not saliency and not twins and not lsf
    figure = feature_figure(analysis, variant="spec_mfcc", config=CONFIG, overlays=["saliency", "f0", "lsf"],
                            saliency=evidence)
    main, saliency, (twin,), lsf = drawn(figure)
    assert saliency == {"spectrogram", "mfcc"}  # the panels spec_mfcc read, and only those
    for collection in (c for c in main["mfcc"].collections if c.get_gid() == "saliency"):
        for path in collection.get_paths():
            x = path.vertices[:, 0]
            assert not ((x > 2.05) & (x < 2.95)).any()  # nothing over the pause the model did not read
    assert twin.get_yscale() == "log" and twin.get_ylim() == pytest.approx((CONFIG.f0_min * 0.8, CONFIG.f0_max))
    f0 = twin.get_lines()[0].get_ydata()
    assert not np.isfinite(f0[(twin.get_lines()[0].get_xdata() > 2.05) & (twin.get_lines()[0].get_xdata() < 2.95)]).any()
    assert len(lsf) == 4
    low, high = main["spectrogram"].get_ylim()
    assert all(np.nanmax(line.get_ydata()) <= high and np.nanmin(line.get_ydata()) >= low for line in lsf)
    assert main["spectrogram"].get_title(loc="left").endswith(" + F0 (right scale) + LSF")
    header = next(text.get_text() for text in figure.texts if text.get_gid() == "header")
    assert "not the speaker" in header.replace("\n", " ")
    figure.savefig(io.BytesIO(), format="png")


def _main_axes_of(axes):
    return [ax for ax in axes if ax.get_subplotspec().colspan.start == 0]


@pytest.mark.timeout(60)
def test_the_static_f0_track_draws_a_200hz_tone_at_200hz_on_its_right_axis():
    figure = feature_figure(_analysis(_tone(200.0)), variant="spec_mfcc", config=CONFIG, overlays=["f0"])
    (twin,) = [ax for ax in figure.axes if ax.get_gid() == "f0-axis"]
    assert abs(np.nanmedian(twin.get_lines()[0].get_ydata()) - 200.0) < 4.0
    assert "200" in [label.get_text() for label in twin.get_yticklabels()]
