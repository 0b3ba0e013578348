from __future__ import annotations

import numpy as np
import pytest
import torch

from deceptio.errors import ParameterError, UnknownVariantError
from deceptio.modeling.card import ModelInput
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.models import ModelConfig, as_network, create_model, fuse_for_inference
from deceptio.modeling.variants import MODEL_VARIANTS, VARIANTS, get_variant


@pytest.mark.parametrize("name", MODEL_VARIANTS)
def test_every_variant_forward_pass(name):
    variant = get_variant(name)
    torch.manual_seed(0)
    model = create_model(ModelConfig()).eval()
    x = torch.randn(3, 1, sum(ModelInput(layout=variant.images).rows().values()), 400)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (3,)
    assert torch.isfinite(y).all()


def test_registry_holds_the_seed_feature_sets_and_the_ensemble():
    assert set(VARIANTS) == {"spec_mfcc", "lsf_lpc", "spec_prosody", "prosody", "ensemble"}
    assert get_variant("ensemble").members == MODEL_VARIANTS
    assert get_variant("spec_mfcc").images == ("spectrogram", "mfcc")


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(UnknownVariantError, match="spec_mfcc"):
        get_variant("resnet_magic")


def test_model_is_small_enough_to_ship():
    model = create_model(ModelConfig())
    megabytes = sum(p.numel() for p in model.state_dict().values()) * 4 / 1e6
    assert megabytes <= 12


def test_model_has_the_configured_shape():
    model = create_model(ModelConfig(width=8, in_channels=2, layers=(1, 2, 1, 1)))
    assert model.conv1.in_channels == 2 and model.conv1.out_channels == 8
    assert len(model.layer2) == 2 and model.layer4[0].conv1.out_channels == 64
    assert model(torch.randn(2, 2, 40, 100)).shape == (2,)


def test_model_computes_what_torchvision_resnet_computes_with_its_weights():
    """The hand-written network is torchvision's ResNet: same state-dict keys and shapes, same outputs."""
    from torchvision.models.resnet import BasicBlock, ResNet

    config = ModelConfig(width=8, in_channels=1, layers=(2, 1, 1, 2), time_pool=2)
    ours = create_model(config).eval()
    reference = ResNet(BasicBlock, list(config.layers), num_classes=1)
    reference.conv1 = torch.nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3, bias=False)
    reference.bn1 = torch.nn.BatchNorm2d(8)
    reference.inplanes = 8
    for index, planes in enumerate((8, 16, 32, 64), start=1):
        setattr(reference, f"layer{index}", reference._make_layer(BasicBlock, planes, config.layers[index - 1], stride=1 if index == 1 else 2))
    reference.fc = torch.nn.Sequential(torch.nn.Dropout(config.dropout), torch.nn.Linear(64, 1))
    ours_state = ours.state_dict()
    assert {k: v.shape for k, v in ours_state.items()} == {k: v.shape for k, v in reference.state_dict().items()}
    # Random BatchNorm statistics and scales, so that every layer matters.
    generator = torch.Generator().manual_seed(0)
    state = {k: (torch.rand(v.shape, generator=generator) + 0.5 if v.is_floating_point() else v) for k, v in ours_state.items()}
    ours.load_state_dict(state)
    reference.load_state_dict(state)
    reference.eval()
    x = torch.randn(3, 1, 40, 120, generator=generator)
    with torch.no_grad():
        expected = reference(torch.nn.functional.avg_pool2d(x, (1, 2))).squeeze(-1)
        assert torch.allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
        assert torch.allclose(fuse_for_inference(ours)(x), expected, rtol=1e-4, atol=1e-4)


def test_inference_does_not_import_torchvision():
    """torchvision costs ~1.3 s and ~160 MB at start-up; scoring must not need it."""
    import subprocess
    import sys

    code = "import sys, deceptio.serving.detector, deceptio.cli; print('torchvision' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [{"width": 2}, {"layers": (1, 1, 1)}, {"dropout": 1.0}, {"time_pool": 0}])
def test_bad_model_config_is_refused(bad):
    with pytest.raises(ParameterError):
        ModelConfig(**bad)


def test_model_config_round_trips_and_refuses_unknown_keys():
    config = ModelConfig(width=12)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="depth"):
        ModelConfig.from_dict({**config.to_dict(), "depth": 3})


def test_training_reduces_loss_on_a_learnable_task(rng):
    from deceptio.modeling.scoring import window_logits
    from deceptio.training.train import TrainConfig, fit

    # Class 1 images carry a bright band in their upper rows: a net that learns must rank them higher.
    images, labels = [], []
    for i in range(24):
        image = rng.standard_normal((20, 450)).astype(np.float32)
        label = i % 2
        if label:
            image[:5] += 1.5
        images.append(image)
        labels.append(label)
    model = fit(images, np.array(labels), ["F", "M"] * 12, model_config=ModelConfig(width=8),
                train_config=TrainConfig(epochs=6, freq_mask=0, time_mask=0), seed=0)
    network = as_network(model)
    scores = [window_logits(network, image, window=400, hop=200)[0].mean() for image in images]
    from deceptio.training.metrics import roc_auc

    assert roc_auc(np.array(labels), np.array(scores)) > 0.9


def test_fused_model_gives_the_same_logits():
    from deceptio.modeling.models import fuse_for_inference

    torch.manual_seed(0)
    model = create_model(ModelConfig(width=8)).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(4, 1, 64, 400)
    with torch.inference_mode():
        assert torch.allclose(fuse_for_inference(model)(x), model(x), atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fuse_for_inference(model).modules())


def test_time_stretch_crops_keep_the_window_and_resample_a_ramp_linearly():
    from deceptio.training.train import _random_crops

    ramp = np.tile(np.arange(2000, dtype=np.float32), (3, 1))
    crops = _random_crops([ramp], np.zeros(40, dtype=np.int64), 400, np.random.default_rng(0), stretch=0.2)
    assert crops.shape == (40, 3, 400)
    slopes = np.diff(crops[:, 0], axis=1).mean(axis=1)
    # A crop of L frames squeezed into 400 climbs (L - 1) / 399 per frame, L within ±20 % of 400.
    assert slopes.min() >= 0.79 and slopes.max() <= 1.21 and slopes.std() > 0.05
    np.testing.assert_allclose(np.diff(crops[:, 0], axis=1), slopes[:, None] * np.ones((1, 399)), atol=1e-3)


def test_mixup_blends_images_and_targets_alike():
    from deceptio.training.train import _mixup

    rng = np.random.default_rng(1)
    batch = np.stack([np.full((2, 5), float(label), dtype=np.float32) for label in (0, 1, 0, 1, 1, 0)])
    target = np.array([0, 1, 0, 1, 1, 0], dtype=np.float32)
    mixed, mixed_target = _mixup(batch, target, 0.4, rng)
    # Images that were all-label become all-(blended label): each pixel equals its blended target.
    np.testing.assert_allclose(mixed[:, 0, 0], mixed_target, atol=1e-6)
    assert np.all(np.abs(mixed_target - target) <= 0.5 + 1e-6)  # each crop stays mostly itself


def test_later_train_fields_at_their_default_leave_cache_keys_unchanged():
    from deceptio.training.train import TrainConfig

    assert "mixup" not in TrainConfig().key_dict() and TrainConfig().key_dict()["epochs"] == 12
    assert TrainConfig(mixup=0.4).key_dict()["mixup"] == 0.4
    assert TrainConfig.from_dict(TrainConfig(noise=0.1).to_dict()) == TrainConfig(noise=0.1)
    with pytest.raises(ParameterError):
        TrainConfig(time_stretch=0.6)


def test_gradient_reversal_is_identity_forward_and_negates_the_scaled_gradient_backward():
    from deceptio.training.train import _ReverseGradient

    x = torch.randn(5, 3, requires_grad=True)
    y = _ReverseGradient.apply(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -0.25 * np.tile(np.arange(3.0), (5, 1)))


def test_adversaries_skip_unknown_genders_and_are_not_part_of_the_shipped_model():
    from deceptio.training.train import Adversaries, TrainConfig, fit

    heads = Adversaries(8, ["F", "M", "unknown"], ["a", "b", "a"])
    assert heads.speaker.out_features == 2 and np.isnan(heads.gender_target[2])
    embedding = torch.randn(2, 8)
    only_unknown = heads.loss(embedding, np.array([2, 2]), 1.0)  # no gender term, only the speaker's (scaled by 1/ln 2)
    speaker_only = torch.nn.functional.cross_entropy(heads.speaker(embedding), torch.zeros(2, dtype=torch.long)) / np.log(2)
    assert torch.allclose(only_unknown, speaker_only)
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(8, 300)).astype(np.float32) for _ in range(6)]
    labels, genders, speakers = np.array([0, 1, 0, 1, 0, 1]), ["F", "F", "M", "M", "F", "M"], list("aabbcc")
    small = ModelConfig(width=4)
    window = WindowConfig(window_frames=100, hop_frames=50)
    plain = fit(images, labels, genders, model_config=small, train_config=TrainConfig(epochs=2, time_mask=10), window=window)
    hidden = fit(images, labels, genders, speakers=speakers, model_config=small,
                 train_config=TrainConfig(epochs=2, time_mask=10, adversary=1.0), window=window)
    assert plain.state_dict().keys() == hidden.state_dict().keys()  # the heads stay behind
    # The reversed gradient reaches the network: same seed, same crops, different weights.
    assert not torch.allclose(plain.conv1.weight, hidden.conv1.weight)
    with pytest.raises(ParameterError, match="speakers"):
        fit(images, labels, genders, speakers=speakers[:3], model_config=small,
            train_config=TrainConfig(epochs=1, time_mask=10, adversary=1.0), window=window)
