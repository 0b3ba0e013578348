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
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from deceptio.errors import ParameterError

__all__ = ["BasicBlock", "ModelConfig", "SlimResNet", "create_model", "fuse_for_inference"]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; stored in every model card so weights rebuild themselves."""

    in_channels: int = 1  # feature images are stacked vertically into one channel
    width: int = 16  # channels of the first stage, doubled at each of the four stages
    layers: tuple[int, int, int, int] = (1, 1, 1, 1)  # BasicBlocks per stage; ~1,000 windows cannot feed a ResNet-18
    dropout: float = 0.3  # before the classifier
    time_pool: int = 2  # average adjacent 10 ms frames first: halves the cost, 20 ms still resolves prosody

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        if self.in_channels < 1:
            raise ParameterError(f"in_channels={self.in_channels} must be >= 1")
        if self.width < 4:
            raise ParameterError(f"width={self.width} must be >= 4")
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ParameterError(f"layers={self.layers} must be four integers >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout={self.dropout} must be in [0, 1)")
        if self.time_pool < 1:
            raise ParameterError(f"time_pool={self.time_pool} must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown ModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


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
        self.fc = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width * 8, 1))
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input_pool(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1)).squeeze(-1)


def create_model(config: ModelConfig | None = None) -> SlimResNet:
    """Build an untrained :class:`SlimResNet` from a config."""
    return SlimResNet(config or ModelConfig())


def fuse_for_inference(model: SlimResNet) -> SlimResNet:
    """A copy for scoring only: BatchNorms folded into their convolutions, channels-last memory.

    Same outputs within float rounding (~1e-6) and about twice as fast on a
    CPU; not trainable as is (the BatchNorms are gone).
    """
    from torch.ao.quantization import fuse_modules

    fused = copy.deepcopy(model).eval()
    pairs = [["conv1", "bn1"]]
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for index, block in enumerate(getattr(fused, stage)):
            prefix = f"{stage}.{index}"
            pairs += [[f"{prefix}.conv1", f"{prefix}.bn1"], [f"{prefix}.conv2", f"{prefix}.bn2"]]
            if block.downsample is not None:
                pairs.append([f"{prefix}.downsample.0", f"{prefix}.downsample.1"])
    fused = fuse_modules(fused, pairs)
    return fused.to(memory_format=torch.channels_last)
