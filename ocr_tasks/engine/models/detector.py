"""PP-OCRv6 small text detector: backbone, RSE feature pyramid, DB probability head.

Input: Bx3xHxW, BGR scaled to [-1, 1], H and W multiples of 32 (the pyramid upsamples by
exact factors of two). Output: Bx1xHxW text probability map in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ocr_tasks.engine.models.backbone import Backbone, StageSpec
from ocr_tasks.engine.models.layers import ConvAct, SqueezeExcite

STAGES = (
    StageSpec(48, None, (True, False)),
    StageSpec(96, (2, 2), (True, False)),
    StageSpec(192, (2, 2), (True, False, True, False)),
    StageSpec(384, (2, 2), (True, False)),
)
PYRAMID_CHANNELS = 96
INPUT_MULTIPLE = 32
NECK_SE_SLOPE = 0.2


class LateralBlock(nn.Module):
    """Pointwise projection of one backbone level to the pyramid width, then residual SE."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.rse = SqueezeExcite(channels, channels // 4, NECK_SE_SLOPE, residual=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rse(self.project(x))


class SmoothBlock(nn.Module):
    """7x7 depthwise context, pointwise reduction to a quarter width, then residual SE."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.context = ConvAct(channels, channels, 7, groups=channels)
        self.reduce = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.rse = SqueezeExcite(out_channels, out_channels // 4, NECK_SE_SLOPE, residual=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rse(self.reduce(self.context(x)))


class FeaturePyramid(nn.Module):
    """Top-down pyramid over the four backbone levels, fused at stride 4.

    The per-level blocks are ordered coarsest first, the order the top-down pathway visits
    them (and the order their weights appear in the exported graph).
    """

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(LateralBlock(c, channels) for c in reversed(in_channels))
        self.smooth = nn.ModuleList(SmoothBlock(channels, channels // 4) for _ in in_channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        laterals = [block(f) for block, f in zip(self.lateral, reversed(features), strict=True)]
        merged = [laterals[0]]
        for lateral in laterals[1:]:
            merged.append(lateral + F.interpolate(merged[-1], scale_factor=2.0, mode="nearest"))
        finest = len(merged) - 1
        fused = []
        for level, (block, x) in enumerate(zip(self.smooth, merged, strict=True)):
            x = block(x)
            if level < finest:
                x = F.interpolate(x, scale_factor=float(2 ** (finest - level)), mode="nearest")
            fused.append(x)
        return torch.cat(fused, dim=1)


class DBHead(nn.Module):
    """Differentiable-binarization probability branch: conv, two 2x transposed convs, sigmoid."""

    def __init__(self, in_channels: int, mid_channels: int = 24) -> None:
        super().__init__()
        self.conv = ConvAct(in_channels, mid_channels, 3, act=nn.ReLU())
        self.up1 = nn.ConvTranspose2d(mid_channels, mid_channels, 2, stride=2)
        self.up2 = nn.ConvTranspose2d(mid_channels, 1, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.up1(self.conv(x)))
        return torch.sigmoid(self.up2(x))


class TextDetector(nn.Module):
    """Backbone, pyramid and DB head; returns the text probability map."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone(stem_mid=24, stem_out=48, stages=STAGES)
        self.neck = FeaturePyramid(self.backbone.out_channels, PYRAMID_CHANNELS)
        self.head = DBHead(PYRAMID_CHANNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (
            x.shape[-2] % INPUT_MULTIPLE or x.shape[-1] % INPUT_MULTIPLE
        ):
            raise ValueError(
                f"detector input sides must be multiples of {INPUT_MULTIPLE}, got "
                f"{tuple(x.shape[-2:])}; pad the page first"
            )
        return self.head(self.neck(self.backbone(x)))
