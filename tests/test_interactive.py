"""The page's Plotly figures: one shared time axis, a trace group per panel, masked gaps, bounded size, descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_speech
from test_plots import CONFIG, _analysis, _made_analysis

from deceptio.modeling.images import WindowConfig
from deceptio.serving.detector import WindowPrediction
from deceptio.serving.figure_data import panels_for
from deceptio.serving.interactive import (
    PAGE_HEAD,
    PLAYHEAD_JS,
    describe_features,
    describe_timeline,
    feature_plot,
    timeline_plot,
)

WINDOW = WindowConfig(window_frames=400, hop_frames=200)


def _x_axes(figure) -> list[str]:
    return sorted(key for key in figure.to_plotly_json()["layout"] if key.startswith("xaxis"))


def _shared(figure) -> None:
    """Every x axis but one matches that one: zoom or pan one panel and all follow."""
    layout = figure.layout
    axes = _x_axes(figure)
    free = [key for key in axes if layout[key].matches is None]
    assert len(free) == 1, free
    reference = free[0].replace("axis", "")
    assert all(layout[key].matches == reference for key in axes if key != free[0])


@pytest.fixture(scope="module")
def speech_analysis():
    y = synthetic_speech(6.0, seed=3)
    speech = np.ones(1 + y.size // CONFIG.hop_length, dtype=bool)
    speech[250:320] = False  # 2.5–3.2 s
    windows = (WindowPrediction(0.0, 4.0, 0.2), WindowPrediction(2.0, 6.0, 0.5))
    return _analysis(y, speech=speech, windows=windows, p=0.35, band=0.1)


@pytest.mark.parametrize("variant", ["ensemble", "spec_mfcc", "lsf_lpc"])
def test_feature_plot_has_one_trace_group_per_panel_on_one_shared_time_axis(speech_analysis, variant):
    figure = feature_plot(speech_analysis, variant=variant, config=CONFIG)
    keys = panels_for(variant)
    _shared(figure)
    assert len(_x_axes(figure)) == len(keys)
    groups = [trace.legendgroup for trace in figure.data if trace.legendgroup != "non-speech"]
    assert groups == list(keys)  # one data trace per panel, top to bottom (16 LSFs are one trace)
    for row, key in enumerate(keys, start=1):
        y_axis = f"y{row if row > 1 else ''}"
        on_row = [trace for trace in figure.data if trace.yaxis == y_axis]
        assert {trace.legendgroup for trace in on_row} == {key, "non-speech"}, (key, on_row)
        assert figure.layout[f"yaxis{row if row > 1 else ''}"].fixedrange  # a drag zooms in time only
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert any(title.startswith("Read by " + variant) for title in titles)
    assert sum(variant in title for title in titles) == 1  # said once
    x_range = figure.layout[_x_axes(figure)[-1]].range
    assert x_range[0] <= 0 < speech_analysis.duration_s - 0.05 <= x_range[1]
    assert "time (s)" in figure.layout[_x_axes(figure)[-1]].title.text


def test_heatmaps_have_labelled_colour_bars_and_contours_are_masked_in_non_speech(speech_analysis):
    figure = feature_plot(speech_analysis, config=CONFIG)
    by_group = {trace.legendgroup: trace for trace in figure.data if trace.legendgroup != "non-speech"}
    assert by_group["lpc"].colorbar.title.text == "LPC coefficient (unitless)"
    assert by_group["spectrogram"].colorbar.title.text == "level (dB)"
    assert by_group["contrast"].y.size == len(figure.layout[by_group["contrast"].yaxis.replace("y", "yaxis")].ticktext)
    for key in ("centroid", "f0", "lsf"):
        times, y = (np.asarray(values, dtype=np.float64) for values in (by_group[key].x, by_group[key].y))
        pause = (times > 2.55) & (times < 3.15)
        assert pause.any() and not np.isfinite(y[pause]).any(), key  # a gap, not a plunge to the floor
        assert np.isfinite(y[(times > 0.5) & (times < 2.0)]).any(), key
    # The shading: one rectangle per non-speech span, on every panel.
    shades = [trace for trace in figure.data if trace.legendgroup == "non-speech"]
    assert len(shades) == len(panels_for("ensemble"))
    x = np.asarray(shades[0].x, dtype=np.float64)
    assert np.nanmin(x) == pytest.approx(2.495, abs=0.02) and np.nanmax(x) == pytest.approx(3.195, abs=0.02)


def test_timeline_plot_bars_do_not_overlap_and_every_lean_is_in_the_legend(speech_analysis):
    figure = timeline_plot(speech_analysis, config=CONFIG, window=WINDOW)
    _shared(figure)
    bars = {trace.legendgroup: trace for trace in figure.data if trace.type == "bar"}
    assert [trace.name for trace in bars.values()] == [
        "leans deceptive (p ≥ 0.60)", "leans truthful (p ≤ 0.40)", "inconclusive (0.40 < p < 0.60)"]
    spans = sorted((x - w / 2, x + w / 2) for trace in bars.values() for x, w in zip(trace.x, trace.width) if w > 0)
    assert spans == [pytest.approx((0.0, 3.0), abs=1e-4), pytest.approx((3.0, 6.0), abs=1e-4)]
    assert list(bars["deceptive"].width) == [0]  # no window leans deceptive: a legend entry, nothing drawn
    assert figure.layout.barmode == "overlay"  # bars keep their own x, never side by side
    assert figure.layout.legend.itemclick is False
    band = next(shape for shape in figure.layout.shapes if shape.name and shape.name.startswith("inconclusive band"))
    assert (band.y0, band.y1) == pytest.approx((0.4, 0.6))
    header = next(a.text for a in figure.layout.annotations if "windows" in a.text)
    assert header.replace("<br>", " ") == "ensemble: p(deceptive) of 2 windows, each 4 s of speech, one every 2 s"


def test_descriptions_say_what_each_figure_shows(speech_analysis):
    features = describe_features(speech_analysis, variant="spec_mfcc", config=CONFIG)
    assert features.startswith("Four feature panels on one time axis over 6 s (Spectrogram, MFCC c1–c19, LSF, F0)")
    assert "of which spec_mfcc reads Spectrogram, MFCC c1–c19" in features and "% of the recording is not speech" in features
    timeline = describe_timeline(speech_analysis, config=CONFIG, window=WINDOW)
    assert timeline == ("p(deceptive) of 2 windows (4 s of speech each, one every 2 s) scored by ensemble over 6 s, "
                        "under the recording's level envelope: 0 lean deceptive, 1 lean truthful, 1 inconclusive. "
                        "The whole recording's p(deceptive) is 0.35, outside the inconclusive band 0.40–0.60.")
    assert 1 <= features.count(". ") + 1 <= 2 and 1 <= timeline.count(". ") + 1 <= 2
    # The page reads them from the figures (layout.meta) for each plot's aria-label.
    assert feature_plot(speech_analysis, variant="spec_mfcc", config=CONFIG).layout.meta["description"] == features
    assert timeline_plot(speech_analysis, config=CONFIG, window=WINDOW).layout.meta["description"] == timeline


def test_a_fifteen_minute_recording_stays_light(rng):
    n = 90_000  # 15 minutes of 10 ms frames
    analysis = _made_analysis(n, rng, speech=rng.random(n) > 0.2,
                              windows=[WindowPrediction(s, s + 4.0, 0.5) for s in np.arange(0.0, 896.0, 2.0)])
    features = feature_plot(analysis, config=CONFIG)
    for trace in features.data:
        if trace.type == "heatmap":
            assert trace.z.shape[1] <= 1200 and trace.z.dtype == np.float32
    size = len(features.to_json()) + len(timeline_plot(analysis, config=CONFIG).to_json())
    assert size < 2_000_000, f"{size / 1e6:.1f} MB of figure JSON"


def test_page_head_carries_the_playhead_script():
    assert PAGE_HEAD == f"<script>{PLAYHEAD_JS}</script>"
    for needed in ('"timeline", "features"', "js-plotly-plot", "shadowRoot", "currentTime", "aria-label",
                   "window.deceptioPlayhead"):
        assert needed in PLAYHEAD_JS, needed
    assert "</script>" not in PLAYHEAD_JS


def test_figures_serialise_to_plotly_json(speech_analysis):
    for figure in (feature_plot(speech_analysis, config=CONFIG), timeline_plot(speech_analysis, config=CONFIG)):
        data = json.loads(figure.to_json())
        assert data["layout"]["autosize"] is True and data["layout"]["font"]["size"] >= 12
        assert all(axis["tickfont"]["size"] >= 10 for key, axis in data["layout"].items() if key.startswith("xaxis"))
