"""A slim ResNet over feature images: torchvision's ResNet-18 layout at a configurable width.

The network is written out here rather than imported from torchvision:
importing torchvision costs about 1.3 s and 160 MB before the first
recording (it pulls in ``torch._dynamo``), which a command-line run and a
cold page start pay in full. Module names and the forward pass are
torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample``, ...),
so a state dict moves between the two unchanged; a test checks that they
compute the same outputs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from deceptio.settings import Settings, setting

__all__ = ["BasicBlock", "ModelConfig", "SlimResNet", "create_model", "fuse_for_inference", "as_network", "export_onnx"]


@dataclass(frozen=True)
class ModelConfig(Settings):
    """Shape of the network; stored in every model card so weights rebuild themselves.

    Checked on construction (see :class:`~deceptio.settings.Settings`).
    """

    _LATER = ("pooling",)

    in_channels: int = setting(1, ge=1)  # feature images are stacked vertically into one channel
    width: int = setting(16, ge=4)  # channels of the first stage, doubled at each of the four stages
    layers: tuple[int, int, int, int] = setting((1, 1, 1, 1), ge=1)  # BasicBlocks per stage; ~1,000 windows cannot feed a ResNet-18
    dropout: float = setting(0.3, ge=0, lt=1)  # before the classifier
    time_pool: int = setting(2, ge=1)  # average adjacent 10 ms frames first: halves the cost, 20 ms still resolves prosody
    # How the last stage's cells become one embedding: "mean" over rows and time, or "attention": the mean over rows,
    # then a softmax-weighted sum over time (for a model that reads a whole recording, WindowConfig(whole=True)).
    pooling: str = setting("mean", choices=("mean", "attention"))


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a shortcut (He et al. 2016), as torchvision's ``BasicBlock``."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SlimResNet(nn.Module):
    """ResNet with a configurable stem width, input channels, blocks per stage and one logit.

    Input: ``(batch, in_channels, rows, frames)``; output: ``(batch,)`` logits of
    p(deceptive). With ``width=64`` and ``layers=(2, 2, 2, 2)`` it is ResNet-18.
    """

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.input_pool = nn.AvgPool2d((1, config.time_pool)) if config.time_pool > 1 else nn.Identity()
        self.conv1 = nn.Conv2d(config.in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = width
        self.layer1 = self._make_layer(width, config.layers[0])
        self.layer2 = self._make_layer(width * 2, config.layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, config.layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, config.layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        # One attention score per last-stage time cell, from its row-mean activation; zero-initialised, so
        # training starts from mean pooling.
        self.attention = nn.Linear(width * 8, 1) if config.pooling == "attention" else None
        self.fc = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width * 8, 1))
        self.scoring_only = False  # True on the copies fuse_for_inference makes
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Zero-init the last BN of each block: each block starts as identity, which
        # trains small nets on little data more stably (Goyal et al. 2017).
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)
        if self.attention is not None:
            nn.init.zeros_(self.attention.weight)
            nn.init.zeros_(self.attention.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's activations ``(batch, width * 8, cells_rows, cells_frames)``, before pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input_pool(x)))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scoring_only:  # see fuse_for_inference: never differentiated
            with torch.inference_mode():
                return self._head(self.features(x))
        return self._head(self.features(x))

    def _head(self, activations: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(activations)).squeeze(-1)

    def time_weights(self, activations: torch.Tensor) -> torch.Tensor:
        """How much each last-stage time cell counts, ``(batch, cells_frames)``, summing to 1 (uniform for mean pooling)."""
        if self.attention is None:
            cells = activations.shape[-1]
            return activations.new_full((activations.shape[0], cells), 1.0 / cells)
        return torch.softmax(self.attention(activations.mean(dim=2).transpose(1, 2)).squeeze(-1), dim=-1)

    def embedding(self, activations: torch.Tensor) -> torch.Tensor:
        """The pooled embedding ``(batch, width * 8)`` the head (and the training adversaries) read."""
        if self.attention is None:
            return torch.flatten(self.avgpool(activations), 1)
        return torch.einsum("nct,nt->nc", activations.mean(dim=2), self.time_weights(activations))

    def logits_and_cam(self, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the class activation map of last-stage ``activations``; see :meth:`forward_cam`."""
        linear = self.fc[-1]
        cam = torch.einsum("nchw,c->nhw", activations, linear.weight[0])
        if self.attention is not None:  # each time cell weighted by its attention, relative to a uniform share
            cam = cam * (self.time_weights(activations) * activations.shape[-1])[:, None, :]
        return cam.mean(dim=(1, 2)) + linear.bias[0], cam

    def forward_cam(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the class activation map of the last stage (Zhou et al. 2016), forward only.

        With global average pooling and one linear unit the logit *is* the
        map's mean plus the bias: ``logit = mean(cam) + fc.bias``, where
        ``cam[h, w] = fc.weight · activation[:, h, w]`` (dropout is off in
        eval mode). So the map is an exact decomposition of the logit over
        the last stage's cells (about rows/32 × frames/64), with no gradient.
        Positive cells raised p(deceptive), negative ones lowered it. With
        attention pooling each time cell ``w`` is multiplied by ``W a_w``
        (its attention weight times the ``W`` cells), and the identity holds
        the same way.

        Returns
        -------
        logits : torch.Tensor [shape=(batch,)]
        cam : torch.Tensor [shape=(batch, cells_rows, cells_frames)], in logit units
        """
        with torch.inference_mode():
            return self.logits_and_cam(self.features(x))


def create_model(config: ModelConfig | None = None) -> SlimResNet:
    """Build an untrained :class:`SlimResNet` from a config."""
    return SlimResNet(config or ModelConfig())


def _conv_bn_pairs(model: SlimResNet) -> list[tuple[nn.Module, str, str]]:
    """``(parent, conv name, BatchNorm name)`` of every convolution followed by a BatchNorm."""
    pairs = [(model, "conv1", "bn1")]
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            pairs += [(block, "conv1", "bn1"), (block, "conv2", "bn2")]
            if block.downsample is not None:
                pairs.append((block.downsample, "0", "1"))
    return pairs


def fuse_for_inference(model: SlimResNet) -> SlimResNet:
    """A copy for scoring only: BatchNorms folded into their convolutions, channels-last memory.

    Same outputs within float rounding (~1e-6) and about twice as fast on a
    CPU. The copy is never differentiated: its parameters do not require
    gradients and its forward passes run in inference mode, so its outputs
    have no autograd graph and ``backward()`` through them raises. (oneDNN's
    backward kernels on folded, channels-last convolutions hung or corrupted
    memory on some AVX2 CPUs; saliency uses :meth:`SlimResNet.forward_cam`,
    which needs no gradient.)
    """
    fused = copy.deepcopy(model).eval()
    for parent, conv_name, bn_name in _conv_bn_pairs(fused):
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        parent._modules[conv_name] = fuse_conv_bn_eval(conv, bn)  # _modules: Sequential children are named "0", "1"
        parent._modules[bn_name] = nn.Identity()
    fused.requires_grad_(False)
    fused.scoring_only = True
    return fused.to(memory_format=torch.channels_last)


def as_network(model: SlimResNet):
    """``model`` as a scoring network: windows ``(n, 1, rows, frames)`` float32 in, ``(logits, cam)`` numpy out.

    The protocol of :mod:`deceptio.modeling.scoring`, which an ONNX Runtime
    session also follows when serving. Runs a BatchNorm-folded copy, forward only.
    """
    scoring = model if model.scoring_only else fuse_for_inference(model)

    def network(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).contiguous(memory_format=torch.channels_last)
        logits, cam = scoring.forward_cam(x)
        return logits.numpy(), cam.numpy()

    return network


class _CamGraph(nn.Module):
    """What the ONNX graph computes: logits and the last stage's class activation map, as :meth:`SlimResNet.forward_cam`."""

    def __init__(self, model: SlimResNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.logits_and_cam(self.model.features(windows))


def export_onnx(model: SlimResNet, path: str | Path, *, rows: int, window: int) -> Path:
    """Write ``model`` (eval mode, BatchNorms as they are: ONNX Runtime folds them) as an ONNX graph.

    Input ``windows`` ``(n, 1, rows, frames)``, any ``n`` and ``frames``;
    outputs ``logits`` ``(n,)`` and ``cam`` ``(n, cells_rows, cells_frames)``.
    """
    import warnings

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _CamGraph(copy.deepcopy(model).eval()).eval()
    example = torch.zeros(2, 1, rows, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own versions
        torch.onnx.export(
            graph, (example,), str(path), input_names=["windows"], output_names=["logits", "cam"],
            dynamic_axes={"windows": {0: "n", 3: "frames"}, "logits": {0: "n"}, "cam": {0: "n", 2: "cells"}},
            dynamo=False, opset_version=17,
        )
    return path
