"""Known-answer tests of the acoustic features: pitch, LPC and LSF, spectra, framing, registry, config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from conftest import fastest, synthetic_speech
from deceptio.errors import ParameterError
from deceptio.features import (
    FEATURES,
    FeatureConfig,
    compute_features,
    deltas,
    fft_frequencies,
    frame_blocks,
    frame_signal,
    fundamental_frequency,
    line_spectral_frequencies,
    log_mel_spectrogram,
    lpc,
    lpc_from_frames,
    lsf_to_lpc,
    mel_filterbank,
    mfcc,
    power_spectrogram,
    rms_db,
    spectral_centroid,
    spectral_contrast,
)
from deceptio.features.config import LEGACY_FEATURES
from deceptio.features.pitch import correct_octave_jumps, gate_quiet_frames

SR = 16000
RATIO_FEATURES_TO_STFT = 45  # measured 14.6 on a 2-core AMD EPYC, with its two feature threads; one core would double it
HOP = 160
STFT = dict(sample_rate=SR, n_fft=512, hop_length=HOP, win_length=400)


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * SR)) / SR)


def pitch(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return fundamental_frequency(
        y, sample_rate=SR, hop_length=HOP, frame_length=1024, f0_min=60.0, f0_max=500.0, voicing_threshold=0.25
    )


def stable_filter(rng: np.random.Generator, order: int, max_radius: float = 0.95) -> np.ndarray:
    """A random minimum-phase A(z) = [1, a1, ..., ap] with complex pole pairs."""
    poles = rng.uniform(0.5, max_radius, order // 2) * np.exp(1j * rng.uniform(0.1, np.pi - 0.1, order // 2))
    return np.poly(np.concatenate([poles, poles.conj()])).real


def reference_lsf(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nontrivial root angles of P and Q by np.roots on the full polynomials: slow and obvious."""
    extended = np.append(a, 0.0)
    angles = []
    for poly in (extended + extended[::-1], extended - extended[::-1]):
        w = np.angle(np.roots(poly))
        angles.append(np.sort(w[(w > 1e-9) & (w < np.pi - 1e-9)]))
    return angles[0], angles[1]


@pytest.fixture
def lpc_frames(rng: np.random.Generator) -> np.ndarray:
    """Order-16 prediction filters as the front end meets them, plus random stable ones."""
    speech = synthetic_speech(2.0).astype(np.float64)
    coloured = np.concatenate(
        [scipy.signal.lfilter([1.0], stable_filter(rng, 16), rng.standard_normal(SR // 2)) for _ in range(3)]
    )
    return np.concatenate(
        [
            lpc(speech, order=16, frame_length=400, hop_length=HOP, pre_emphasis=0.97),
            lpc(coloured, order=16, frame_length=400, hop_length=HOP),
            np.stack([stable_filter(rng, 16) for _ in range(50)], axis=1),
        ],
        axis=1,
    )


# --- pitch ------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [110.0, 220.0, 440.0])
def test_pure_tone_f0_is_within_one_percent_and_voiced(frequency: float) -> None:
    f0, voiced, aperiodicity = pitch(tone(frequency))
    assert voiced.mean() > 0.9
    assert np.median(f0[voiced]) == pytest.approx(frequency, rel=0.01)
    cents = 1200 * np.log2(f0[10:-10] / frequency)  # away from the zero-padded edges
    assert np.all(np.abs(cents) < 1.0)
    assert np.all(f0[~voiced] == 0.0)
    assert np.median(aperiodicity) < 0.05


def test_harmonic_rich_voice_has_no_octave_error() -> None:
    phase = 2 * np.pi * 140.0 * np.arange(SR) / SR
    f0, voiced, _ = pitch(0.1 * sum(np.sin(k * phase) / k for k in range(1, 25)))
    assert voiced.mean() > 0.9
    assert np.median(f0[voiced]) == pytest.approx(140.0, rel=0.01)


def test_white_noise_is_mostly_unvoiced(rng: np.random.Generator) -> None:
    f0, voiced, aperiodicity = pitch(0.1 * rng.standard_normal(2 * SR))
    assert voiced.mean() < 0.05
    assert np.median(aperiodicity) > 0.5


def test_silence_is_unvoiced_with_zero_f0() -> None:
    f0, voiced, aperiodicity = pitch(np.zeros(SR))
    assert not voiced.any()
    assert np.all(f0 == 0.0)
    assert np.all(aperiodicity == 1.0)


def test_voicing_onset_lines_up_with_the_frame_grid() -> None:
    # Frame t is centred on sample t * HOP, so a tone starting at 0.5 s is voiced from frame ~50.
    _, voiced, _ = pitch(np.concatenate([np.zeros(SR // 2), tone(200.0)]))
    assert abs(np.argmax(voiced) - 50) <= 3
    assert voiced[60:-5].all() and not voiced[:45].any()


def test_octave_jumps_are_halved_or_doubled_back_onto_the_contour(rng: np.random.Generator) -> None:
    # A gliding 120-160 Hz contour with octave errors: a few frames doubled, a few halved, unvoiced frames between.
    f0 = np.linspace(120.0, 160.0, 600) * (1 + 0.01 * rng.standard_normal(600))
    voiced = rng.random(600) > 0.2
    truth = f0.copy()
    f0[100:104] *= 2
    f0[300:303] /= 2
    f0[450] *= 2.1  # within the tolerance of an octave: halved, to 1.05 times the truth
    truth[450] *= 1.05
    voiced[450] = True
    f0[~voiced] = 0.0
    corrected = correct_octave_jumps(f0, voiced)
    assert corrected.dtype == np.float32 and corrected.shape == f0.shape
    np.testing.assert_allclose(corrected[voiced], truth[voiced], rtol=1e-5)
    assert np.all(corrected[~voiced] == 0.0)  # unvoiced frames as given


def test_octave_correction_leaves_a_real_contour_and_a_long_shift_alone() -> None:
    # A fifth up (1.5x, not an octave) and a whole second an octave up (longer than the median's reach) are real.
    f0 = np.full(400, 110.0)
    f0[50:60] = 165.0
    f0[200:] = 220.0
    voiced = np.ones(400, dtype=bool)
    np.testing.assert_array_equal(correct_octave_jumps(f0, voiced), f0.astype(np.float32))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"median_frames": 50}, "median_frames=50 must be an odd integer"),
    ({"median_frames": 0}, "median_frames=0"),
    ({"tolerance": 0.5}, r"tolerance=0.5 must be in \(0, 0.5\)"),
])
def test_octave_correction_refuses_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        correct_octave_jumps(np.full(10, 100.0), np.ones(10, dtype=bool), **kwargs)
    with pytest.raises(ParameterError, match="one length"):
        correct_octave_jumps(np.full(10, 100.0), np.ones(9, dtype=bool))


# --- LPC and LSF --------------------------------------------------------------


def test_lpc_recovers_a_known_all_pole_filter(rng: np.random.Generator) -> None:
    poles = np.array([0.9, 0.85, 0.8, 0.9, 0.85, 0.7]) * np.exp(1j * np.array([0.25, 0.7, 1.2, 1.7, 2.3, 2.8]))
    a_true = np.poly(np.concatenate([poles, poles.conj()])).real  # order 12
    y = scipy.signal.lfilter([1.0], a_true, rng.standard_normal(8 * SR))
    a = lpc(y, order=12, frame_length=2048, hop_length=512)
    assert a.shape == (13, 1 + y.size // 512)
    assert np.max(np.abs(a.mean(axis=1) - a_true)) < 0.02


def test_lpc_from_frames_solves_the_normal_equations(rng: np.random.Generator) -> None:
    frames = rng.standard_normal((5, 300)) * np.hamming(300)
    a = lpc_from_frames(frames, order=8)
    for frame, column in zip(frames, a.T):
        r = np.correlate(frame, frame, "full")[299 : 299 + 9]
        np.testing.assert_allclose(column[1:], scipy.linalg.solve_toeplitz(r[:8], -r[1:]), atol=1e-7)
    np.testing.assert_allclose(lpc_from_frames(frames[0], order=8), a[:, 0])


def test_lpc_of_silence_is_the_identity_filter() -> None:
    a = lpc(np.zeros(1000), order=16, frame_length=400, hop_length=HOP, pre_emphasis=0.97)
    np.testing.assert_array_equal(a, np.eye(17, 1).repeat(a.shape[1], axis=1))


def test_lsf_are_sorted_interleaved_and_match_np_roots(lpc_frames: np.ndarray) -> None:
    lsf = line_spectral_frequencies(lpc_frames)
    assert lsf.shape == (16, lpc_frames.shape[1])
    assert np.all((lsf > 0) & (lsf < np.pi))
    assert np.all(np.diff(lsf, axis=0) > 0)
    for column, a in zip(lsf.T, lpc_frames.T):
        p_roots, q_roots = reference_lsf(a)
        # Interleaved: P, Q, P, Q, ... from the lowest up.
        np.testing.assert_allclose(column[0::2], p_roots, atol=1e-6)
        np.testing.assert_allclose(column[1::2], q_roots, atol=1e-6)


def test_lsf_round_trip_gives_back_the_filters(lpc_frames: np.ndarray) -> None:
    np.testing.assert_allclose(lsf_to_lpc(line_spectral_frequencies(lpc_frames)), lpc_frames, atol=1e-6)
    a = lpc_frames[:, 0]
    np.testing.assert_allclose(lsf_to_lpc(line_spectral_frequencies(a)), a, atol=1e-6)


def test_lsf_of_the_identity_filter_are_evenly_spaced() -> None:
    np.testing.assert_allclose(line_spectral_frequencies(np.eye(17, 1)[:, 0]), np.arange(1, 17) * np.pi / 17)


def test_lsf_closer_than_the_grid_use_the_roots_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    lsf = np.linspace(0.2, 2.9, 16)
    lsf[5:8] = [1.3, 1.30005, 1.3001]  # two Q roots 1e-4 apart, within one grid step
    calls = []
    roots = np.roots
    monkeypatch.setattr(np, "roots", lambda p: calls.append(p) or roots(p))
    np.testing.assert_allclose(line_spectral_frequencies(lsf_to_lpc(lsf)), lsf, atol=1e-6)
    assert calls


@pytest.mark.parametrize("function, bad", [(line_spectral_frequencies, np.ones(4)), (lsf_to_lpc, np.ones(3))])
def test_odd_lsf_order_is_refused(function, bad: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="order=3"):
        function(bad)


# --- spectral -----------------------------------------------------------------


@pytest.mark.parametrize("frequency", [440.0, 1000.0, 3000.0])
def test_centroid_of_a_tone_is_within_one_bin(frequency: float) -> None:
    centroid = spectral_centroid(tone(frequency), **STFT)
    assert np.all(np.abs(centroid[3:-3] - frequency) < SR / 512)


def test_centroid_of_one_bin_is_that_bin_and_silence_is_zero() -> None:
    S = np.zeros((257, 4))
    S[37, :3] = 2.0
    centroid = spectral_centroid(S=S, sample_rate=SR, n_fft=512)
    np.testing.assert_array_equal(centroid, [37 * SR / 512] * 3 + [0.0])


def test_deltas_of_a_ramp_are_its_slope() -> None:
    ramps = np.array([3.0, -0.5])[:, None] * np.arange(40) + 7.0
    d = deltas(ramps, width=9)
    np.testing.assert_allclose(d[:, 4:-4], np.array([[3.0], [-0.5]]).repeat(32, axis=1))
    assert 0 < d[0, 0] < 3.0  # edge padding flattens the ends
    with pytest.raises(ParameterError, match="width=4"):
        deltas(ramps, width=4)


def test_mfcc_c0_tracks_loudness(rng: np.random.Generator) -> None:
    noise = rng.standard_normal(SR)
    c0 = [
        mfcc(gain * noise, n_mfcc=13, n_mels=64, fmin=50.0, fmax=8000.0, **STFT)[0].mean() for gain in (0.01, 0.1, 1.0)
    ]
    # 20 dB more in every band adds 20 dB * sqrt(n_mels) to the orthonormal c0.
    np.testing.assert_allclose(np.diff(c0), 20.0 * np.sqrt(64), rtol=1e-6)


def test_contrast_of_a_tone_exceeds_that_of_noise(rng: np.random.Generator) -> None:
    tonal = spectral_contrast(tone(1000.0), **STFT)
    noisy = spectral_contrast(0.1 * rng.standard_normal(SR), **STFT)
    assert tonal.shape == noisy.shape == (7, 101)
    band = 3  # 800-1600 Hz holds the tone
    assert np.median(tonal[band]) > np.median(noisy[band]) + 30.0
    assert tonal.mean() > noisy.mean()


def test_rms_db_of_a_full_scale_sine_is_minus_three_db() -> None:
    level = rms_db(tone(1000.0, amplitude=1.0), n_fft=512, win_length=400, hop_length=HOP)
    np.testing.assert_allclose(level[3:-3], 10 * np.log10(0.5), atol=0.05)


def test_log_mel_of_silence_is_the_floor() -> None:
    log_mel = log_mel_spectrogram(np.zeros(800), n_mels=64, fmin=50.0, fmax=8000.0, **STFT)
    np.testing.assert_array_equal(log_mel, np.full((64, 6), -100.0))


def test_spectral_functions_refuse_both_or_neither_input() -> None:
    with pytest.raises(ParameterError, match="exactly one"):
        spectral_centroid(sample_rate=SR, n_fft=512)
    with pytest.raises(ParameterError, match=r"shape \(1 \+ n_fft // 2 = 257, T\)"):
        spectral_centroid(S=np.zeros((256, 3)), sample_rate=SR, n_fft=512)


def test_spectra_match_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    y = synthetic_speech(1.0).astype(np.float64)
    S = power_spectrogram(y, n_fft=512, hop_length=HOP, win_length=400)
    reference = np.abs(librosa.stft(y, n_fft=512, hop_length=HOP, win_length=400, pad_mode="constant")) ** 2
    np.testing.assert_allclose(S, reference, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        mel_filterbank(sample_rate=SR, n_fft=512, n_mels=64, fmin=50.0, fmax=8000.0),
        librosa.filters.mel(sr=SR, n_fft=512, n_mels=64, fmin=50.0, fmax=8000.0),
        rtol=1e-5,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        spectral_centroid(S=S, sample_rate=SR, n_fft=512),
        librosa.feature.spectral_centroid(S=np.sqrt(reference), sr=SR, n_fft=512)[0],
        rtol=1e-6,
    )
    # librosa takes power_to_db of magnitudes, half the amplitude ratio in dB.
    np.testing.assert_allclose(
        spectral_contrast(S=S, sample_rate=SR, n_fft=512),
        2 * librosa.feature.spectral_contrast(S=np.sqrt(reference), sr=SR, n_fft=512),
        rtol=1e-5,
        atol=1e-6,
    )


# --- framing --------------------------------------------------------------------


def test_frames_are_centred_on_multiples_of_the_hop() -> None:
    y = np.arange(1.0, 1001.0)
    frames = frame_signal(y, frame_length=400, hop_length=HOP)
    assert frames.shape == (1 + 1000 // HOP, 400)
    np.testing.assert_array_equal(frames[:, 200], y[::HOP])
    np.testing.assert_array_equal(frames[0, :200], 0.0)
    assert not frames.flags.writeable
    assert fft_frequencies(sample_rate=SR, n_fft=512)[-1] == SR / 2


@pytest.mark.parametrize("n_samples", [1, 159, 160, 161, 1000, SR + 37])
def test_every_feature_has_one_frame_per_hop(rng: np.random.Generator, n_samples: int) -> None:
    features = compute_features(0.1 * rng.standard_normal(n_samples))
    frames = 1 + n_samples // HOP
    assert set(features) == set(FEATURES)
    assert {value.shape[-1] for value in features.values()} == {frames}


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros((2, 100)), "1-D"),
        (np.zeros(100, dtype=np.int16), "floating-point"),
        (np.array([0.0, np.nan]), "NaN"),
        (np.zeros(0), "empty"),
    ],
)
def test_bad_signals_are_refused(y: np.ndarray, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        compute_features(y)


# --- registry and compute_features ----------------------------------------------


def test_every_registered_feature_is_produced_with_its_declared_shape(rng: np.random.Generator) -> None:
    config = FeatureConfig()
    y = 0.1 * rng.standard_normal(SR)
    features = compute_features(y, config=config)
    frames = 1 + y.size // config.hop_length
    assert list(features) == list(FEATURES)
    for name, feature in FEATURES.items():
        value = features[name]
        assert feature.name == name and feature.description and "\n" not in feature.description
        assert value.shape == eval(feature.shape, {}, {**config.to_dict(), "T": frames}), name
        assert value.dtype == (bool if name == "voiced" else np.float32), name
        assert np.all(np.isfinite(value)), name
    assert list(compute_features(y, names=["f0", "mfcc"])) == ["f0", "mfcc"]


def test_zero_input_gives_finite_outputs_everywhere() -> None:
    features = compute_features(np.zeros(SR))
    for name, value in features.items():
        assert np.all(np.isfinite(value)), name
    assert not features["voiced"].any()
    np.testing.assert_array_equal(features["lpc"], 0.0)
    np.testing.assert_allclose(features["lsf"][:, 0], np.arange(1, 17) * np.pi / 17, rtol=1e-6)


def test_compute_features_agrees_with_the_functions(rng: np.random.Generator) -> None:
    y = synthetic_speech(1.0).astype(np.float64)
    features = compute_features(y, names=["f0", "lsf", "log_mel"])
    raw = compute_features(y, names=["f0", "voiced"], config=FeatureConfig(**LEGACY_FEATURES))
    np.testing.assert_array_equal(raw["f0"], pitch(y)[0])  # a legacy card's F0: YIN as it is
    # Today's F0: frames 40 dB under the loud ones unvoiced, then octave jumps corrected.
    voiced = gate_quiet_frames(pitch(y)[1], compute_features(y, names=["rms_db"])["rms_db"], floor_db=40.0)
    np.testing.assert_array_equal(features["f0"], correct_octave_jumps(np.where(voiced, pitch(y)[0], 0.0), voiced))
    np.testing.assert_array_equal(compute_features(y, names=["voiced"])["voiced"], voiced)
    a = lpc(y, order=16, frame_length=400, hop_length=HOP, pre_emphasis=0.97)
    np.testing.assert_allclose(features["lsf"], line_spectral_frequencies(a), atol=1e-6)
    np.testing.assert_allclose(
        features["log_mel"], log_mel_spectrogram(y, n_mels=64, fmin=50.0, fmax=8000.0, **STFT), atol=1e-4
    )


def test_unknown_feature_names_are_refused_listing_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="'pitch'") as error:
        compute_features(np.zeros(100), names=["mfcc", "pitch"])
    assert all(name in str(error.value) for name in FEATURES)
    with pytest.raises(ParameterError, match="'mfcc'"):
        compute_features(np.zeros(100), names="mfcc")
    with pytest.raises(ParameterError, match="FeatureConfig"):
        compute_features(np.zeros(100), config={"n_mels": 40})


@pytest.mark.slow
def test_five_minutes_cost_a_small_multiple_of_one_stft(rng: np.random.Generator) -> None:
    """Every feature of five minutes (mel, MFCC, LPC/LSF, F0, contrast) within a few plain STFTs of the same audio.

    A ratio, not seconds, so it holds on a slower CPU: about 3 s on the
    2-core AMD EPYC, where the README's speed figures were measured."""
    y = (0.1 * rng.standard_normal(300 * SR)).astype(np.float32)
    window = np.hanning(512).astype(np.float32)

    def stft():
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, 256), 512)[::HOP]
        return np.abs(np.fft.rfft(frames * window, axis=1)) ** 2

    reference = fastest(stft)
    seconds = fastest(lambda: compute_features(y))
    print(f"features of 5 min: {seconds:.2f} s, {seconds / reference:.1f}x one numpy STFT ({reference:.3f} s)")
    assert seconds < RATIO_FEATURES_TO_STFT * reference
    assert compute_features(y)["f0"].shape == (1 + y.size // HOP,)


# --- config ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ({"lpc_order": 15}, "lpc_order=15"),
        ({"hop_length": 160.0}, "hop_length=160.0"),
        ({"n_mels": 0}, "n_mels=0"),
        ({"n_mels": 256}, "n_mels=256"),
        ({"win_length": 1024}, "win_length=1024"),
        ({"fmax": 9000.0}, "fmax=9000.0"),
        ({"n_mfcc": 80}, "n_mfcc=80"),
        ({"lpc_frame_length": 16}, "lpc_frame_length=16"),
        ({"pre_emphasis": 1.0}, "pre_emphasis=1.0"),
        ({"f0_min": 600.0}, "f0_min=600.0"),
        ({"f0_frame_length": 512}, "f0_frame_length=512"),
        ({"voicing_threshold": 0.0}, "voicing_threshold=0.0"),
        ({"contrast_fmin": 2000.0}, "contrast_fmin=2000.0"),
        ({"sample_rate": True}, "sample_rate=True"),
    ],
)
def test_bad_configs_are_refused_naming_the_field(override: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        FeatureConfig(**override)


def test_config_survives_a_json_card() -> None:
    config = FeatureConfig(n_mels=40, pre_emphasis=0.0)
    assert FeatureConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert FeatureConfig.from_dict({"n_mels": 40}).n_mels == 40


def test_config_from_dict_refuses_unknown_keys_by_name() -> None:
    with pytest.raises(ParameterError, match="n_mel'"):
        FeatureConfig.from_dict({"n_mel": 40, "hop_length": 160})


@pytest.mark.parametrize("pre_emphasis", [0.0, 0.97])
@pytest.mark.parametrize("n", [1, 159, 160, 5000, 41_000])
def test_frame_blocks_cut_the_same_frames_as_frame_signal(rng: np.random.Generator, n: int, pre_emphasis: float) -> None:
    y = rng.standard_normal(n).astype(np.float32)
    filtered = np.concatenate((y[:1], y[1:] - pre_emphasis * y[:-1].astype(np.float64))) if pre_emphasis else y
    whole = frame_signal(filtered.astype(np.float64), frame_length=400, hop_length=160)
    pieces = list(frame_blocks(y, frame_length=400, hop_length=160, pre_emphasis=pre_emphasis, block=37))
    assert all(frames.dtype == np.float64 for _, frames in pieces)
    assert [rows.start for rows, _ in pieces] == list(range(0, len(whole), 37))
    np.testing.assert_allclose(np.concatenate([frames for _, frames in pieces]), whole, rtol=0, atol=1e-12)


def test_threads_change_nothing_and_bad_thread_counts_are_refused(rng: np.random.Generator) -> None:
    y = synthetic_speech(6.0, seed=3)
    alone, threaded = compute_features(y, threads=1), compute_features(y, threads=3)
    assert alone.keys() == threaded.keys()
    for name in alone:
        np.testing.assert_array_equal(alone[name], threaded[name], err_msg=name)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match="threads"):
            compute_features(y, threads=bad)


def test_feature_memory_grows_with_the_features_not_the_spectrogram(rng: np.random.Generator) -> None:
    """Ten minutes of audio: the transient peak stays far below the 185 MB a whole float64 spectrogram would take."""
    import tracemalloc

    y = rng.standard_normal(10 * 60 * 16000).astype(np.float32) * 0.1
    tracemalloc.start()
    try:
        features = compute_features(y, threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = sum(value.nbytes for value in features.values())
    whole_spectrogram = 257 * (1 + y.size // 160) * 8
    assert peak < kept * 3 + 60e6, f"peak {peak / 1e6:.0f} MB for {kept / 1e6:.0f} MB of features"
    assert peak < whole_spectrogram


def test_quiet_frames_are_unvoiced_and_a_legacy_card_reads_the_raw_contour() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(SR) / SR
    loud = 0.3 * np.sin(2 * np.pi * 180 * t)
    hum = 1e-4 * np.sin(2 * np.pi * 120 * t) + 1e-5 * rng.standard_normal(SR)  # 70 dB down: a pause's hum
    y = np.concatenate([loud, hum, loud])
    today = compute_features(y, names=["f0", "voiced"])
    legacy = compute_features(y, names=["f0", "voiced"], config=FeatureConfig(**LEGACY_FEATURES))
    middle = slice(SR // HOP + 20, 2 * SR // HOP - 20)
    assert legacy["voiced"][middle].mean() > 0.5  # YIN calls the hum periodic
    assert not today["voiced"][middle].any() and not today["f0"][middle].any()
    assert today["voiced"][:50].all()  # the speech stays voiced
    with pytest.raises(ParameterError, match="floor_db"):
        gate_quiet_frames(np.ones(3, dtype=bool), np.zeros(3), floor_db=-1.0)
    # A card that predates the settings means the raw contour; one that names them gets what it names.
    from deceptio.modeling.card import ModelInput

    assert ModelInput.from_settings({"features": {}}).features == FeatureConfig(**LEGACY_FEATURES)
    assert ModelInput.from_settings({"features": FeatureConfig().to_dict()}).features == FeatureConfig()
