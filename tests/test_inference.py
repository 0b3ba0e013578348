"""The Detector with the shipped weights: verdicts, timeline, the arrays the page draws, saliency."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO, synthetic_speech
from deceptio.errors import ParameterError, UnknownVariantError
from deceptio.serving.detector import Detector, verdict_for


@pytest.fixture(scope="module")
def detector():
    return Detector(REPO / "weights")


def test_verdict_band():
    assert verdict_for(0.71, 0.1) == "deceptive"
    assert verdict_for(0.29, 0.1) == "truthful"
    assert verdict_for(0.55, 0.1) == "inconclusive"
    assert verdict_for(0.55, 0.0) == "deceptive"


def test_analysis_of_a_tuple_from_the_microphone(detector):
    audio = (48000, (synthetic_speech(12.0, sample_rate=48000) * 32767).astype(np.int16))
    analysis = detector.analyze(audio, variant="ensemble")
    assert set(analysis.members) == {"spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"}
    assert analysis.p_deceptive == pytest.approx(np.mean(list(analysis.members.values())))
    assert analysis.frames.size == analysis.speech.sum()
    assert analysis.features["log_mel"].shape[1] == analysis.speech.size
    assert all(image.shape[1] == analysis.frames.size for image in analysis.images.values())


def test_saliency_matches_each_members_image(detector):
    analysis = detector.analyze((16000, synthetic_speech(9.0)), variant="ensemble")
    maps = detector.saliency(analysis)
    assert set(maps) == set(analysis.members)
    for name, cam in maps.items():
        rows = sum(analysis.images[i].shape[0] for i in __import__("deceptio").VARIANTS[name].images)
        assert cam.shape == (rows, analysis.frames.size) and np.isfinite(cam).all() and np.abs(cam).max() > 0


def test_bad_requests(detector):
    with pytest.raises(UnknownVariantError):
        detector.analyze((16000, synthetic_speech(5.0)), variant="magic")
    with pytest.raises(ParameterError):
        detector.analyze((16000, synthetic_speech(5.0)), band=0.7)


def test_an_ensemble_of_members_with_different_windows(tmp_path):
    """A nested release may ship each variant with its own window: the ensemble's timeline uses the shortest hop."""
    import json
    import shutil

    for path in (REPO / "weights").iterdir():
        shutil.copy(path, tmp_path / path.name)
    for name in ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"):  # the ONNX graphs take any width
        card = json.loads((tmp_path / f"{name}.json").read_text())
        card["input"]["window"] = ({"window_frames": 800, "hop_frames": 400} if name == "spec_mfcc"
                                   else {"window_frames": 400, "hop_frames": 200})
        (tmp_path / f"{name}.json").write_text(json.dumps(card))
    ensemble = Detector(tmp_path)
    audio = (16000, synthetic_speech(30.0))
    analysis = ensemble.analyze(audio, variant="ensemble")
    assert ensemble.model_input("ensemble").window.window_frames == 400  # the members with the 2 s hop
    singles = {name: ensemble.analyze(audio, variant=name) for name in analysis.members}
    assert len(singles["spec_mfcc"].windows) < len(singles["prosody"].windows) == len(analysis.windows)
    for name, single in singles.items():
        assert analysis.members[name] == pytest.approx(single.p_deceptive)
    # Each timeline window: the mean over members of each member's window whose centre (in speech frames) is nearest.
    scores = {name: ensemble.score_frames(analysis.features, analysis.frames, variant=name) for name in singles}
    shown = scores["prosody"]
    assert [w.p_deceptive for w in analysis.windows] == pytest.approx(
        [float(p) for p in ensemble.score_frames(analysis.features, analysis.frames, variant="ensemble").window_p])
    for i, start in enumerate(shown.starts):
        expected = []
        for name, score in scores.items():
            if name == "spec_mfcc":
                centres = score.starts + 400
                expected.append(score.window_p[np.argmin(np.abs(centres - (start + 200)))])
            else:
                assert np.array_equal(score.starts, shown.starts)
                expected.append(score.window_p[i])
        assert analysis.windows[i].p_deceptive == pytest.approx(np.mean(expected), abs=1e-6), i
