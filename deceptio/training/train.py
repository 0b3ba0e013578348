"""Training one variant's ResNet on window crops of labelled recordings."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from deceptio.errors import ParameterError
from deceptio.modeling.images import WindowConfig, cut_windows
from deceptio.modeling.models import ModelConfig, SlimResNet, create_model
from deceptio.training.metrics import label_balance_weights
from deceptio.settings import Settings, setting

__all__ = ["TrainConfig", "clip_weights", "fit", "Adversaries"]

_BALANCE = ("none", "label", "gender_label")


@dataclass(frozen=True)
class TrainConfig(Settings):
    """How a variant is trained; stored in the model card.

    Checked on construction (see :class:`~deceptio.settings.Settings`).
    """

    epochs: int = setting(12, ge=1)
    batch_size: int = setting(32, ge=1)
    learning_rate: float = setting(3e-3, gt=0)  # peak of a one-cycle schedule
    weight_decay: float = setting(0.05, ge=0)
    balance: str = setting("gender_label", choices=_BALANCE)  # within each gender both labels weigh the same: gender carries no label
    freq_mask: int = setting(8, ge=0)  # SpecAugment: widest masked band of rows
    time_mask: int = setting(40, ge=0)  # SpecAugment: widest masked span of frames (0.4 s)
    label_smoothing: float = setting(0.05, ge=0, lt=0.5)
    # Added after the first release; off by default (see key_dict).
    mixup: float = setting(0.0, ge=0)  # Beta(mixup, mixup) blend of each crop with another of the batch, targets blended alike; 0 = off
    time_stretch: float = setting(0.0, ge=0, lt=0.5)  # crops of window * U(1 - s, 1 + s) frames resampled to the window: speed perturbation
    noise: float = setting(0.0, ge=0)  # std of Gaussian noise added to the (z-scored) images
    # Weight of the adversaries (Ganin & Lempitsky 2015): heads on the pooled embedding that predict the
    # subject's gender and the speaker, behind a gradient reversal, so the network learns to hide both; 0 = off.
    adversary: float = setting(0.0, ge=0)
    # Epochs of pretraining on a related task (EmoDB arousal, deceptio.training.related) before this one; 0 = none.
    pretrain_epochs: int = setting(0, ge=0)

    def key_dict(self) -> dict:
        """:meth:`to_dict` without the later fields left at their default (off).

        Cache keys are built from this, so that runs made before a field
        existed, which trained exactly as the default does, stay valid.
        """
        values = self.to_dict()
        for name in _LATER_FIELDS:
            if values[name] == _DEFAULTS[name]:
                del values[name]
        return values


_LATER_FIELDS = ("mixup", "time_stretch", "noise", "adversary", "pretrain_epochs")
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def clip_weights(labels: np.ndarray, genders: list[str], balance: str) -> np.ndarray:
    """Sampling weights per clip, mean 1.

    ``gender_label`` gives each label half of each gender's weight, so that in
    the weighted training set gender says nothing about the label; ``label``
    balances the labels only.
    """
    labels = np.asarray(labels)
    if balance == "none":
        return np.ones(len(labels), dtype=np.float64)
    groups = np.array(genders if balance == "gender_label" else ["all"] * len(labels))
    weights = label_balance_weights(labels, groups)
    return weights / weights.mean()


def _augment(batch: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    batch = batch.copy()
    n, rows, frames = batch.shape
    for i in range(n):  # a batch is small; masks differ per sample
        if config.freq_mask:
            width = rng.integers(0, config.freq_mask + 1)
            start = rng.integers(0, rows - width + 1)
            batch[i, start : start + width] = 0.0
        if config.time_mask:
            width = rng.integers(0, config.time_mask + 1)
            start = rng.integers(0, frames - width + 1)
            batch[i, :, start : start + width] = 0.0
    return batch


def _random_crops(
    images: list[np.ndarray], clip_index: np.ndarray, window: int, rng: np.random.Generator, stretch: float = 0.0
) -> np.ndarray:
    """One random ``window``-frame crop per chosen clip; with ``stretch``, crops of ``window * U(1 - stretch, 1 + stretch)``
    frames linearly resampled to ``window`` (a faster or slower speaker)."""
    crops = np.empty((len(clip_index), images[0].shape[0], window), dtype=np.float32)
    for row, c in enumerate(clip_index):
        image = images[c]
        n = image.shape[1]
        length = window if not stretch else max(2, int(round(window * rng.uniform(1 - stretch, 1 + stretch))))
        start = rng.integers(0, n - length + 1) if n > length else 0
        crop = cut_windows(image, np.array([start]), window=length)[0]
        if length != window:
            position = np.linspace(0, length - 1, window)
            left = np.minimum(position.astype(np.int64), length - 2)
            fraction = (position - left).astype(np.float32)
            crop = crop[:, left] * (1 - fraction) + crop[:, left + 1] * fraction
        crops[row] = crop
    return crops


def _mixup(batch: np.ndarray, target: np.ndarray, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blend each crop and its target with another of the batch (Zhang et al. 2018)."""
    lam = rng.beta(alpha, alpha, size=len(batch)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)  # each crop stays mostly itself
    partner = rng.permutation(len(batch))
    mixed = lam[:, None, None] * batch + (1 - lam[:, None, None]) * batch[partner]
    return mixed.astype(np.float32), (lam * target + (1 - lam) * target[partner]).astype(np.float32)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient multiplied by ``-weight`` backward (gradient reversal)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


class Adversaries(nn.Module):
    """Training-only heads that try to read the subject's gender and the speaker from a window's embedding.

    Their losses train the heads; the reversed gradient trains the network to
    make both unreadable. They are not part of the shipped model. Clips of
    unknown gender add nothing to the gender loss; the speaker head has one
    class per training speaker (only when there are at least two).
    """

    def __init__(self, width: int, genders: list[str], speakers: list[str]) -> None:
        super().__init__()
        self.gender_target = np.array([{"F": 1.0, "M": 0.0}.get(g, np.nan) for g in genders], dtype=np.float32)
        names = sorted(set(speakers))
        self.speaker_target = np.array([names.index(s) for s in speakers], dtype=np.int64)
        self.gender = nn.Linear(width, 1)
        self.speaker = nn.Linear(width, len(names)) if len(names) >= 2 else None
        self._speaker_scale = 1.0 / np.log(max(len(names), 2))  # a chance-level speaker loss weighs as the gender one

    def loss(self, embedding: torch.Tensor, chosen: np.ndarray, weight: float) -> torch.Tensor:
        reversed_ = _ReverseGradient.apply(embedding, weight)
        gender = torch.from_numpy(self.gender_target[chosen])
        known = ~torch.isnan(gender)
        total = embedding.new_zeros(())
        if known.any():
            total = total + nn.functional.binary_cross_entropy_with_logits(self.gender(reversed_).squeeze(-1)[known], gender[known])
        if self.speaker is not None:
            speaker = torch.from_numpy(self.speaker_target[chosen])
            total = total + self._speaker_scale * nn.functional.cross_entropy(self.speaker(reversed_), speaker)
        return total


def fit(
    images: list[np.ndarray],
    labels: np.ndarray,
    genders: list[str],
    *,
    speakers: list[str] | None = None,
    initial_state: dict | None = None,
    model_config: ModelConfig,
    train_config: TrainConfig,
    window: WindowConfig = WindowConfig(),
    seed: int = 0,
    progress: bool = False,
    description: str = "train",
) -> SlimResNet:
    """Train a fresh model on clip images (each ``(rows, frames)``) with clip labels, on crops of ``window.window_frames``.

    Each epoch draws as many random window crops as the clips hold windows,
    clips chosen with :func:`clip_weights`, so long clips do not outvote
    short ones and gender does not predict the label. With
    ``train_config.adversary`` > 0, :class:`Adversaries` for gender and
    ``speakers`` (one name per clip; each clip its own speaker if not given)
    train beside the network behind a gradient reversal whose weight ramps
    from 0 to ``adversary`` (``2 / (1 + exp(-10 p)) - 1`` of it at progress ``p``).
    ``initial_state`` (a pretrained network's state dict, see
    :func:`deceptio.training.related.pretrained_state`) sets every layer but
    the head before training starts.
    """
    if len(images) != len(labels):
        raise ParameterError(f"{len(images)} images but {len(labels)} labels")
    if len(set(np.asarray(labels).tolist())) < 2:
        raise ParameterError("training needs clips of both labels")
    if train_config.time_mask > window.window_frames:
        raise ParameterError(f"train.time_mask={train_config.time_mask} must be <= window.window_frames={window.window_frames}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    labels = np.asarray(labels, dtype=np.float32)
    window = window.window_frames
    probabilities = clip_weights(labels, genders, train_config.balance)
    probabilities /= probabilities.sum()
    per_epoch = int(sum(max(1, round(image.shape[1] / window)) for image in images))
    steps_per_epoch = max(1, -(-per_epoch // train_config.batch_size))

    model = create_model(model_config)
    if initial_state is not None:
        body = {key: value for key, value in initial_state.items() if not key.startswith("fc.")}
        unexpected = model.load_state_dict(body, strict=False)
        if unexpected.unexpected_keys or set(unexpected.missing_keys) - {k for k in model.state_dict() if k.startswith("fc.")}:
            raise ParameterError("initial_state does not fit the model's configuration")
    parameters = list(model.parameters())
    adversaries = None
    if train_config.adversary:
        if speakers is not None and len(speakers) != len(images):
            raise ParameterError(f"{len(images)} images but {len(speakers)} speakers")
        adversaries = Adversaries(model_config.width * 8, list(genders),
                                  list(speakers) if speakers is not None else [str(i) for i in range(len(images))])
        parameters += list(adversaries.parameters())
    optimiser = torch.optim.AdamW(parameters, lr=train_config.learning_rate, weight_decay=train_config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=train_config.learning_rate, total_steps=train_config.epochs * steps_per_epoch, pct_start=0.25
    )
    loss_fn = nn.BCEWithLogitsLoss()
    smooth = train_config.label_smoothing
    model.train()
    total_steps = train_config.epochs * steps_per_epoch
    bar = tqdm(total=total_steps, desc=description, unit="step", disable=not progress, leave=False)
    for epoch in range(train_config.epochs):
        order = rng.choice(len(images), size=steps_per_epoch * train_config.batch_size, p=probabilities)
        for step in range(steps_per_epoch):
            chosen = order[step * train_config.batch_size : (step + 1) * train_config.batch_size]
            batch = _augment(_random_crops(images, chosen, window, rng, train_config.time_stretch), train_config, rng)
            target = labels[chosen] * (1 - 2 * smooth) + smooth
            if train_config.noise:
                batch += rng.normal(0.0, train_config.noise, size=batch.shape).astype(np.float32)
            if train_config.mixup:
                batch, target = _mixup(batch, target, train_config.mixup, rng)
            target = torch.from_numpy(target)
            if adversaries is None:
                loss = loss_fn(model(torch.from_numpy(batch).unsqueeze(1)), target)
            else:
                embedding = model.embedding(model.features(torch.from_numpy(batch).unsqueeze(1)))
                done = (epoch * steps_per_epoch + step) / total_steps
                weight = train_config.adversary * (2.0 / (1.0 + np.exp(-10.0 * done)) - 1.0)
                loss = loss_fn(model.fc(embedding).squeeze(-1), target) + adversaries.loss(embedding, chosen, float(weight))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    model.eval()
    return model
