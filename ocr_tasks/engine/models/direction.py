"""Text-line direction classifier (0 or 180 degrees): MobileNetV3-small at width 0.35.

Input: Bx3xHxW line crops, BGR scaled to [-1, 1]; the model was trained on 48x192 (the
exported graph itself accepts any size: it ends in global pooling). Output: Bx2 softmax,
index 1 = the line is upside down.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ocr_tasks.engine.models.layers import ConvBNAct, SqueezeExcite

INPUT_SIZE = (48, 192)
SE_SLOPE = 0.2


class BlockSpec(NamedTuple):
    kernel: int
    expanded: int
    out_channels: int
    use_se: bool
    hardswish: bool
    stride: tuple[int, int]


BLOCKS = (
    BlockSpec(3, 8, 8, True, False, (2, 1)),
    BlockSpec(3, 24, 8, False, False, (2, 1)),
    BlockSpec(3, 32, 8, False, False, (1, 1)),
    BlockSpec(5, 32, 16, True, True, (2, 1)),
    BlockSpec(5, 88, 16, True, True, (1, 1)),
    BlockSpec(5, 88, 16, True, True, (1, 1)),
    BlockSpec(5, 40, 16, True, True, (1, 1)),
    BlockSpec(5, 48, 16, True, True, (1, 1)),
    BlockSpec(5, 104, 32, True, True, (2, 1)),
    BlockSpec(5, 200, 32, True, True, (1, 1)),
    BlockSpec(5, 200, 32, True, True, (1, 1)),
)


def _activation(hardswish: bool) -> nn.Module:
    return nn.Hardswish() if hardswish else nn.ReLU()


class InvertedResidual(nn.Module):
    """Pointwise expand, depthwise conv, optional SE, linear pointwise project; residual
    when the shape is unchanged."""

    def __init__(self, in_channels: int, spec: BlockSpec) -> None:
        super().__init__()
        self.expand = ConvBNAct(in_channels, spec.expanded, 1, act=_activation(spec.hardswish))
        self.depthwise = ConvBNAct(
            spec.expanded,
            spec.expanded,
            spec.kernel,
            stride=spec.stride,
            groups=spec.expanded,
            act=_activation(spec.hardswish),
        )
        self.se = (
            SqueezeExcite(spec.expanded, spec.expanded // 4, SE_SLOPE)
            if spec.use_se
            else nn.Identity()
        )
        self.project = ConvBNAct(spec.expanded, spec.out_channels, 1)
        self.residual = spec.stride == (1, 1) and in_channels == spec.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return x + out if self.residual else out


class DirectionClassifier(nn.Module):
    """Stem, inverted-residual blocks, pointwise widen, 2x2 max pool, global mean, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, 8, 3, stride=2, act=nn.Hardswish())
        blocks = []
        channels = 8
        for spec in BLOCKS:
            blocks.append(InvertedResidual(channels, spec))
            channels = spec.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.last_conv = ConvBNAct(channels, 200, 1, act=nn.Hardswish())
        self.pool = nn.MaxPool2d(2, stride=2)
        self.fc = nn.Linear(200, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.last_conv(self.blocks(self.stem(x))))
        return torch.softmax(self.fc(x.mean((2, 3))), dim=-1)
