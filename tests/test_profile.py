"""The voice profile: plain numbers about a recording that a person can check by ear."""

from __future__ import annotations

import numpy as np
import pytest

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, compute_features
from deceptio.features.profile import PROFILE_FIELDS, VoiceProfile, profile_ranges, voice_profile

CONFIG = FeatureConfig()
RATE = CONFIG.sample_rate


def _features(y: np.ndarray) -> dict[str, np.ndarray]:
    return compute_features(y.astype(np.float32), config=CONFIG)


def _tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * hz * t)


def test_a_steady_tone_has_its_pitch_no_range_and_its_level():
    y = _tone(200.0, 3.0)
    features = _features(y)
    profile = voice_profile(features, np.ones(features["f0"].size, dtype=bool), config=CONFIG)
    assert profile.median_f0_hz == pytest.approx(200.0, rel=0.02)
    assert profile.f0_range_st < 0.5 and profile.voiced_ratio > 0.9 and profile.pause_ratio == 0.0
    assert profile.speech_s == pytest.approx(features["f0"].size * CONFIG.hop_length / RATE)
    assert profile.level_db == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=1.5)


def test_a_glide_over_an_octave_has_a_range_near_twelve_semitones_times_the_inner_share():
    t = np.arange(int(4.0 * RATE)) / RATE
    hz = 150.0 * 2 ** (t / t[-1])  # 150 -> 300 Hz, one octave, evenly in semitones
    y = 0.3 * np.sin(2 * np.pi * np.cumsum(hz) / RATE)
    features = _features(y)
    profile = voice_profile(features, np.ones(features["f0"].size, dtype=bool), config=CONFIG)
    assert profile.f0_range_st == pytest.approx(12.0 * 0.8, abs=0.8)  # 10th to 90th percentile of an even glide


def test_pauses_between_the_first_and_last_speech_frame_count_and_edges_do_not():
    features = _features(_tone(200.0, 4.0))
    n = features["f0"].size
    mask = np.zeros(n, dtype=bool)
    mask[50:150] = mask[250:350] = True  # 100 frames of pause inside, silence outside ignored
    profile = voice_profile(features, mask, config=CONFIG)
    assert profile.pause_ratio == pytest.approx(100 / 300)
    assert voice_profile(features, np.flatnonzero(mask), config=CONFIG) == profile  # indices or a mask


def test_the_alpha_ratio_is_higher_for_a_bright_sound_than_for_a_dull_one():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(3 * RATE) * 0.1
    dull = _tone(150.0, 3.0) + _tone(300.0, 3.0, 0.2)
    everything = np.ones(_features(noise)["f0"].size, dtype=bool)
    bright_tilt = voice_profile(_features(noise), everything, config=CONFIG).alpha_ratio_db
    dull_tilt = voice_profile(_features(dull), everything, config=CONFIG).alpha_ratio_db
    assert bright_tilt > 0 > dull_tilt  # white noise has more energy in 1-5 kHz than below 1 kHz


def test_no_frames_and_missing_features_are_handled():
    features = _features(_tone(200.0, 1.0))
    empty = voice_profile(features, np.zeros(features["f0"].size, dtype=bool), config=CONFIG)
    assert empty.speech_s == 0.0 and np.isnan(empty.median_f0_hz)
    assert set(empty.to_dict()) == set(PROFILE_FIELDS) and empty.to_dict()["median_f0_hz"] is None
    with pytest.raises(ParameterError, match="log_mel"):
        voice_profile({k: v for k, v in features.items() if k != "log_mel"}, np.ones(3, dtype=bool), config=CONFIG)


def test_profile_ranges_are_the_central_share_of_each_number():
    profiles = [VoiceProfile(float(s), 100.0 + s, 5.0, 0.5, 0.1, -20.0, -10.0) for s in range(1, 101)]
    ranges = profile_ranges(profiles, coverage=0.9)
    assert ranges["speech_s"]["low"] == pytest.approx(5.95) and ranges["speech_s"]["high"] == pytest.approx(95.05)
    assert ranges["median_f0_hz"]["median"] == pytest.approx(150.5) and ranges["coverage"] == 0.9
    with pytest.raises(ParameterError):
        profile_ranges(profiles, coverage=1.0)
