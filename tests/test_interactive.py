"""The page's Plotly figures: one shared time axis, a trace group per panel, masked gaps, bounded size, descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_speech
from test_plots import CONFIG, _analysis, _made_analysis, _tone

from deceptio.errors import ParameterError
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.variants import VARIANTS
from deceptio.serving.detector import WindowPrediction
from deceptio.serving.figure_data import LSF_TRACK_PAIRS, PANELS, feature_view, image_evidence, panels_for
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


# --- Overlays: the saliency of the variant's networks, the F0 and LSF tracks over the spectrogram -------------------

LAYOUTS = {"spec_mfcc": {"spectrogram": 64, "mfcc": 60}, "lsf_lpc": {"lsf": 48, "lpc": 16},
           "prosody": {"f0": 48, "contrast": 7, "centroid": 24},
           "spec_prosody": {"spectrogram": 64, "f0": 48, "contrast": 7, "centroid": 24}}


def _evidence(analysis, variant: str, rng) -> dict[str, np.ndarray]:
    """Random class activation maps over the frames ``analysis`` read, as Detector.saliency gives them."""
    members = VARIANTS[variant].members or (variant,)
    frames = np.flatnonzero(analysis.speech)
    maps = {m: rng.normal(0.0, 1.0, (sum(LAYOUTS[m].values()), frames.size)) for m in members}
    return image_evidence(maps, {m: LAYOUTS[m] for m in members}, frames=frames, n_frames=analysis.speech.size)


def _overlay_groups(figure) -> dict[str, list]:
    groups: dict[str, list] = {}
    for trace in figure.data:
        if (trace.legendgroup or "").startswith("overlay-"):
            groups.setdefault(trace.legendgroup, []).append(trace)
    return groups


def _right_axes(figure) -> list[str]:
    layout = figure.to_plotly_json()["layout"]
    return [key for key, axis in layout.items() if key.startswith("yaxis") and axis.get("overlaying")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", ["spec_mfcc", "lsf_lpc", "ensemble"])
def test_overlay_traces_are_there_only_when_asked_for_and_saliency_only_on_the_panels_read(speech_analysis, variant,
                                                                                           rng):
    plain = feature_plot(speech_analysis, variant=variant, config=CONFIG)
    assert _overlay_groups(plain) == {} and _right_axes(plain) == []
    evidence = _evidence(speech_analysis, variant, rng)
    figure = feature_plot(speech_analysis, variant=variant, config=CONFIG, overlays=("saliency", "f0", "lsf"),
                          saliency=evidence)
    groups = _overlay_groups(figure)
    assert set(groups) == {"overlay-saliency", "overlay-f0", "overlay-lsf"}
    # The panels keep their own axes and trace groups; the overlays come on top.
    assert [t.legendgroup for t in figure.data if t.legendgroup in panels_for(variant)] == list(panels_for(variant))
    keys = panels_for(variant)
    read = [key for key in keys if PANELS[key][1] in VARIANTS[variant].images
            or any(PANELS[key][1] in VARIANTS[m].images for m in VARIANTS[variant].members)]
    on_axes = sorted(trace.yaxis for trace in groups["overlay-saliency"])
    assert on_axes == sorted(f"y{keys.index(key) + 1 if key != keys[0] else ''}" for key in read), (on_axes, read)
    for trace in groups["overlay-saliency"]:
        assert trace.fill == "toself" and trace.hoverinfo == "skip"  # the panel's own hover stays reachable
    # Only the overlays asked for, each alone.
    alone = feature_plot(speech_analysis, variant=variant, config=CONFIG, overlays=["f0"])
    assert set(_overlay_groups(alone)) == {"overlay-f0"} and len(_right_axes(alone)) == 1
    header = next(a.text for a in figure.layout.annotations if a.text.startswith("Read by"))
    assert header == next(a.text for a in plain.layout.annotations if a.text.startswith("Read by"))  # stays short
    notes = feature_view(speech_analysis, variant=variant, config=CONFIG, overlays=["saliency", "lsf"],
                         saliency=evidence).notes
    assert len(notes) == 2 and "not the speaker" in notes[0] and ("members" in notes[0]) == (variant == "ensemble")
    assert "evidence for 'deceptive'" in figure.layout.meta["description"]
    assert "evidence" not in plain.layout.meta["description"]


@pytest.mark.timeout(60)
def test_saliency_is_blank_where_the_model_read_nothing_and_shares_one_scale(speech_analysis, rng):
    evidence = _evidence(speech_analysis, "spec_mfcc", rng)
    view = feature_view(speech_analysis, variant="spec_mfcc", config=CONFIG, overlays=["saliency"], saliency=evidence)
    panels = {panel.key: panel for panel in view.panels}
    assert panels["lsf"].evidence is None and panels["f0"].evidence is None  # spec_mfcc reads neither
    pause = (view.times > 2.55) & (view.times < 3.15)  # 2.5–3.2 s is not speech: not read
    for key in ("spectrogram", "mfcc"):
        fraction = panels[key].evidence
        assert not np.isfinite(fraction[pause]).any(), key
        assert np.isfinite(fraction[view.times < 2.4]).all(), key
        assert np.nanmin(fraction) >= 0.0 and np.nanmax(fraction) <= 1.0
        x, y = panels[key].evidence_outline
        assert not ((x > 2.55) & (x < 3.15)).any(), key  # no shape over the pause
        low, high = panels[key].y_range
        assert np.nanmax(y) == pytest.approx(high) and np.nanmin(y) >= high - 0.4 * (high - low) - 1e-9  # hangs from the top
    # One scale for the figure: the strongest evidence anywhere reaches the full depth, once.
    assert max(np.nanmax(panels[key].evidence) for key in ("spectrogram", "mfcc")) == pytest.approx(1.0)
    read = speech_analysis.speech  # 601 frames: one display column each
    assert view.times.size == read.size
    for key in ("spectrogram", "mfcc"):  # what lowered p is left blank; the rest in logit units of that one scale
        np.testing.assert_allclose(panels[key].evidence[read] * view.evidence_scale,
                                   np.clip(evidence[key][read], 0.0, None), atol=1e-12)
    with pytest.raises(ParameterError, match="saliency overlay needs"):
        feature_view(speech_analysis, config=CONFIG, overlays=["saliency"])
    with pytest.raises(ParameterError, match="known: saliency, f0, lsf"):
        feature_view(speech_analysis, config=CONFIG, overlays=["formants"])


@pytest.mark.timeout(60)
def test_image_evidence_splits_each_map_by_its_layout_and_averages_the_members():
    frames = np.array([1, 2, 4])
    spec_mfcc = np.concatenate([np.full((64, 3), 2.0), np.full((60, 3), -1.0)])  # spectrogram +2, MFCC -1 per cell
    lsf_lpc = np.concatenate([np.full((48, 3), 4.0), np.full((16, 3), 0.0)])
    one = image_evidence({"spec_mfcc": spec_mfcc}, {"spec_mfcc": LAYOUTS["spec_mfcc"]}, frames=frames, n_frames=6)
    # Each image's share of the mean over all 124 rows: 64·2/124 and 60·(−1)/124, summing to the map's mean.
    np.testing.assert_allclose(one["spectrogram"][frames], 128 / 124)
    np.testing.assert_allclose(one["mfcc"][frames], -60 / 124)
    np.testing.assert_allclose(one["spectrogram"][frames] + one["mfcc"][frames], spec_mfcc.mean(axis=0))
    assert np.isnan(one["spectrogram"][[0, 3, 5]]).all()  # frames not read stay blank
    both = image_evidence({"spec_mfcc": spec_mfcc, "lsf_lpc": lsf_lpc},
                          {"spec_mfcc": LAYOUTS["spec_mfcc"], "lsf_lpc": LAYOUTS["lsf_lpc"]}, frames=frames,
                          n_frames=6, scales={"lsf_lpc": 2.0})
    # Averaged over the two members, a member that does not read an image adding nothing; divided by its temperature.
    np.testing.assert_allclose(both["spectrogram"][frames], 128 / 124 / 2)
    np.testing.assert_allclose(both["lsf"][frames], 48 * 4 / 64 / 2.0 / 2)
    with pytest.raises(ParameterError, match="expected \\(124, 3\\)"):
        image_evidence({"spec_mfcc": spec_mfcc[:, :2]}, {"spec_mfcc": LAYOUTS["spec_mfcc"]}, frames=frames, n_frames=6)


@pytest.mark.timeout(60)
def test_the_f0_track_is_on_a_right_hand_hz_axis_and_only_on_voiced_speech(rng):
    n = 600
    speech = np.ones(n, dtype=bool)
    speech[200:300] = False
    voiced = np.ones(n, dtype=bool)
    voiced[400:450] = False
    f0 = np.full(n, 150.0, dtype=np.float32)
    f0[100:104] = 300.0  # an octave error, corrected as on the F0 panel
    analysis = _made_analysis(n, rng, speech=speech, f0=f0, voiced=voiced, rms_db=np.full(n, -20.0, np.float32))
    view = feature_view(analysis, config=CONFIG, max_columns=n, overlays=["f0"])
    panels = {panel.key: panel for panel in view.panels}
    (track,) = panels["spectrogram"].tracks
    assert track.right and panels["spectrogram"].right_axis.y_range == (CONFIG.f0_min * 0.8, CONFIG.f0_max)
    (line,) = track.lines
    np.testing.assert_array_equal(line, panels["f0"].lines[0])  # the F0 panel's very contour
    assert not np.isfinite(line[200:300]).any() and not np.isfinite(line[400:450]).any()
    assert np.isfinite(line[:200]).all() and np.nanmax(line) == pytest.approx(150.0)
    figure = feature_plot(analysis, config=CONFIG, max_columns=n, overlays=["f0"])
    (axis_key,) = _right_axes(figure)
    axis = figure.layout[axis_key]
    assert (axis.overlaying, axis.side, axis.anchor, axis.type) == ("y", "right", "x", "log")
    assert axis.fixedrange and all(label.endswith(" Hz") for label in axis.ticktext)
    (trace,) = _overlay_groups(figure)["overlay-f0"]
    assert trace.yaxis == axis_key.replace("axis", "") and trace.xaxis == "x"
    assert next(a.text for a in figure.layout.annotations if a.text.startswith("Spectrogram")).endswith(" + F0 (right scale)")


@pytest.mark.timeout(60)
def test_a_200hz_tone_has_its_f0_track_at_200hz_on_the_right_axis():
    figure = feature_plot(_analysis(_tone(200.0)), variant="spec_mfcc", config=CONFIG, overlays=["f0"])
    (trace,) = _overlay_groups(figure)["overlay-f0"]
    y = np.asarray(trace.y, dtype=np.float64)
    assert np.isfinite(y).mean() > 0.8
    assert abs(np.nanmedian(y) - 200.0) < 4.0
    axis = figure.layout[_right_axes(figure)[0]]
    assert axis.range[0] < np.log10(200.0) < axis.range[1]
    assert axis.ticktext[list(axis.tickvals).index(200.0)] == "200 Hz"


@pytest.mark.timeout(60)
def test_lsf_tracks_sit_on_the_spectrogram_rows_its_hz_ticks_name(rng):
    n = 400
    hz = np.tile(np.linspace(300.0, 7500.0, CONFIG.lpc_order)[:, None], (1, n))
    hz[0], hz[1] = 900.0, 1100.0  # the first pair's mean: 1 kHz
    hz[2], hz[3] = 20.0, 40.0  # below the lowest mel band: not drawn
    lsf = (hz * 2 * np.pi / CONFIG.sample_rate).astype(np.float32)
    analysis = _made_analysis(n, rng, lsf=lsf, rms_db=np.full(n, -20.0, np.float32))
    view = feature_view(analysis, variant="spec_mfcc", config=CONFIG, overlays=["lsf"])
    spectrogram = view.panels[0]
    (track,) = spectrogram.tracks
    assert not track.right and len(track.lines) == LSF_TRACK_PAIRS
    low, high = spectrogram.y_range
    for line in track.lines:
        finite = line[np.isfinite(line)]
        assert ((finite >= low) & (finite <= high)).all()
    one_k = spectrogram.y_ticks.values[spectrogram.y_ticks.labels.index("1k")]
    assert np.nanmedian(track.lines[0]) == pytest.approx(one_k, abs=0.3)  # on the "1k" tick
    np.testing.assert_allclose(track.hz[0], 1000.0, rtol=1e-5)
    assert not np.isfinite(track.lines[1]).any()  # 30 Hz lies below the spectrogram
    figure = feature_plot(analysis, variant="spec_mfcc", config=CONFIG, overlays=["lsf"])
    (trace,) = _overlay_groups(figure)["overlay-lsf"]
    assert trace.yaxis == "y" and np.nanmax(np.asarray(trace.y, dtype=np.float64)) <= high
    assert _right_axes(figure) == []


@pytest.mark.timeout(120)
def test_a_fifteen_minute_recording_with_every_overlay_stays_light(rng):
    n = 90_000
    analysis = _made_analysis(n, rng, speech=rng.random(n) > 0.2)
    evidence = _evidence(analysis, "ensemble", rng)
    features = feature_plot(analysis, config=CONFIG, overlays=("saliency", "f0", "lsf"), saliency=evidence)
    plain = len(feature_plot(analysis, config=CONFIG).to_json())
    size = len(features.to_json())
    assert size < 2_000_000 and size - plain < 700_000, f"{size / 1e6:.1f} MB, {(size - plain) / 1e6:.1f} MB of overlays"


@pytest.mark.timeout(300)
def test_a_toggle_redraws_the_analysis_on_the_page_without_rescoring(monkeypatch, tmp_path):
    from conftest import REPO, WEIGHTS

    from deceptio.serving.detector import Detector
    from deceptio.serving.page import RecordingCache, analyze_for_page, features_for_page, saliency_evidence

    detector = Detector(WEIGHTS, variants=("spec_mfcc",))
    source = tmp_path / "statement.ogg"
    source.write_bytes((REPO / "assets" / "synthetic_statement_female.ogg").read_bytes())
    cache = RecordingCache()
    assert features_for_page(detector, source, "spec_mfcc", overlays=["f0"], cache=cache, session="a") is None
    result = analyze_for_page(detector, source, "spec_mfcc", cache=cache, session="a")
    assert _overlay_groups(result.feature_figure) == {}
    calls = []
    for name in ("prepare_features", "analyze_recording", "saliency"):
        original = getattr(Detector, name)
        monkeypatch.setattr(Detector, name, lambda self, *a, _o=original, _n=name, **k: calls.append(_n) or _o(self, *a, **k))
    figure = features_for_page(detector, source, "spec_mfcc", overlays=["saliency", "f0"], cache=cache, session="a")
    assert set(_overlay_groups(figure)) == {"overlay-saliency", "overlay-f0"}
    assert calls == ["saliency"]  # the kept analysis, its maps computed once
    again = features_for_page(detector, source, "spec_mfcc", overlays=["saliency"], cache=cache, session="a")
    assert calls == ["saliency"] and set(_overlay_groups(again)) == {"overlay-saliency"}
    # Drawn from Detector.saliency's maps of the very analysis on the page, the same each time.
    expected = feature_plot(result.analysis, variant="spec_mfcc", config=detector.feature_config, overlays=["saliency"],
                            saliency=saliency_evidence(detector, result.analysis))
    assert _same_traces(again, expected, "overlay-saliency") and _same_traces(figure, again, "overlay-saliency")
    assert features_for_page(detector, source, "spec_mfcc", overlays=[], cache=cache, session="b") is None  # another visitor
    assert features_for_page(detector, source, "prosody", overlays=[], cache=cache, session="a") is None  # not on the page
    cache.forget_shown("a")  # a new recording on the page
    assert features_for_page(detector, source, "spec_mfcc", overlays=[], cache=cache, session="a") is None


def _same_traces(a, b, group: str) -> bool:
    pick = lambda figure: [(t.yaxis, np.asarray(t.x), np.asarray(t.y)) for t in figure.data if t.legendgroup == group]  # noqa: E731
    first, second = pick(a), pick(b)
    return bool(first) and len(first) == len(second) and all(
        p[0] == q[0] and np.array_equal(p[1], q[1], equal_nan=True) and np.array_equal(p[2], q[2], equal_nan=True)
        for p, q in zip(first, second))
