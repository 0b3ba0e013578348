from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_speech
from deceptio.errors import ParameterError
from deceptio.features import compute_features
from deceptio.features import FeatureConfig
from deceptio.modeling.images import IMAGE_NAMES, ImageConfig, cut_windows, feature_images, image_rows, stack_images, window_starts

IMAGE_ROWS = {name: image_rows(name, FeatureConfig(), ImageConfig()) for name in IMAGE_NAMES}


@pytest.fixture(scope="module")
def features():
    return compute_features(synthetic_speech(6.0))


def test_every_image_has_its_rows_and_the_selected_frames(features):
    frames = np.arange(50, 500)
    images = feature_images(features, frames)
    assert set(images) == set(IMAGE_ROWS)
    for name, image in images.items():
        assert image.shape == (IMAGE_ROWS[name], frames.size), name
        assert image.dtype == np.float32 and np.isfinite(image).all(), name


def test_maps_are_normalised_per_row(features):
    image = feature_images(features, np.arange(600), ("spectrogram",))["spectrogram"]
    assert np.allclose(image.mean(axis=1), 0, atol=1e-4)


def test_pitch_image_ignores_the_speakers_absolute_pitch():
    low = compute_features(synthetic_speech(5.0, f0=100.0, seed=1))
    high = compute_features(synthetic_speech(5.0, f0=200.0, seed=1))
    frames = np.flatnonzero(low["voiced"] & high["voiced"])
    a = feature_images(low, frames, ("f0",))["f0"]
    b = feature_images(high, frames, ("f0",))["f0"]
    # Same melody an octave apart: the ridge images should nearly coincide.
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_lsf_ridges_sit_at_the_lsf_frequencies():
    features = {"lsf": np.full((2, 10), 2 * np.pi * 1000 / 16000, dtype=np.float32)}
    image = feature_images(features, np.arange(10), ("lsf",))["lsf"]
    axis = np.logspace(np.log2(60), np.log2(7800), IMAGE_ROWS["lsf"], base=2)
    assert axis[image[:, 0].argmax()] == pytest.approx(1000, rel=0.08)


def test_windows_cover_the_image_and_short_images_wrap():
    assert window_starts(1000, window=400, hop=200).tolist() == [0, 200, 400, 600]
    assert window_starts(1100, window=400, hop=200).tolist() == [0, 200, 400, 600, 700]
    assert window_starts(300, window=400, hop=200).tolist() == [0]
    image = np.arange(3 * 250, dtype=np.float32).reshape(3, 250)
    windows = cut_windows(image, np.array([0]), window=400)
    assert windows.shape == (1, 3, 400) and windows[0, 0, 250] == image[0, 0]


def test_stack_and_bad_names(features):
    images = feature_images(features, np.arange(100), ("f0", "contrast"))
    assert stack_images(images, ("f0", "contrast")).shape == (IMAGE_ROWS["f0"] + 7, 100)
    with pytest.raises(ParameterError, match="unknown"):
        feature_images(features, np.arange(100), ("magic",))
    with pytest.raises(ParameterError, match="no frames"):
        feature_images(features, np.array([], dtype=int), ("f0",))


def test_sparse_ridge_matches_the_dense_gaussian(rng):
    from deceptio.modeling.images import _ridge

    values = rng.uniform(-14, 14, (3, 200)).astype(np.float32)  # some lines fall outside the axis
    weight = rng.random(200).astype(np.float32)
    centres = np.linspace(-12, 12, 48)
    sigma = centres[1] - centres[0]
    dense = (np.exp(-0.5 * ((centres[:, None, None] - values[None]) / sigma) ** 2).sum(axis=1)) * weight
    assert np.abs(_ridge(values, weight, -12.0, 12.0, 48, 4) - dense).max() < 1e-3


def test_windows_cut_from_a_list_of_images_equal_those_of_the_stacked_image(rng):
    from deceptio.modeling.images import cut_windows, stack_images, window_starts

    images = {"a": rng.standard_normal((3, 950)).astype(np.float32), "b": rng.standard_normal((5, 950)).astype(np.float32)}
    starts = window_starts(950, window=400, hop=200)
    stacked = cut_windows(stack_images(images, ("a", "b")), starts, window=400)
    np.testing.assert_array_equal(cut_windows([images["a"], images["b"]], starts, window=400), stacked)
    short = [images["a"][:, :150], images["b"][:, :150]]  # shorter than a window: both wrap around alike
    np.testing.assert_array_equal(cut_windows(short, np.zeros(1, dtype=np.int64), window=400),
                                  cut_windows(np.concatenate(short), np.zeros(1, dtype=np.int64), window=400))
