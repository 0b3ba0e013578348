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
