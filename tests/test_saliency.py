from __future__ import annotations

import numpy as np
import torch

from deceptio.models import ModelConfig, create_model
from deceptio.saliency import grad_cam, image_saliency


def _bright_band_model():
    """A net trained in a few steps to call images with a bright upper band 'deceptive'."""
    from deceptio.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(24):
        image = rng.standard_normal((32, 420)).astype(np.float32) * 0.5
        if i % 2:
            image[:8] += 2.0
        images.append(image)
        labels.append(i % 2)
    return fit(images, np.array(labels), ["F"] * 24, model_config=ModelConfig(width=8, dropout=0.0),
               train_config=TrainConfig(epochs=8, freq_mask=0, time_mask=0), seed=0)


def test_grad_cam_has_the_input_shape_and_is_nonnegative():
    torch.manual_seed(0)
    model = create_model(ModelConfig(width=8)).eval()
    maps = grad_cam(model, torch.randn(3, 1, 40, 400))
    assert maps.shape == (3, 40, 400) and (maps >= 0).all() and np.isfinite(maps).all()
    assert all(p.grad is None for p in model.parameters())


def test_saliency_points_at_the_evidence():
    model = _bright_band_model()
    image = np.random.default_rng(1).standard_normal((32, 800)).astype(np.float32) * 0.5
    image[:8] += 2.0
    saliency = image_saliency(model, image, window=400, hop=200)
    assert saliency.shape == image.shape
    assert saliency[:8].mean() > saliency[16:].mean()
