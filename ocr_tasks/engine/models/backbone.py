"""The convolutional backbone shared by the PP-OCRv6 detector and recognizer.

A stem (output stride 4: two branches in the small networks, two plain convolutions in the
tiny recognizer) followed by stages of mixer blocks: a depthwise 3x3
token mixer (its identity and 1x1 branches were re-parameterized into the one kernel before
export, so no shortcut remains around it), an optional squeeze-excite, and a residual
pointwise feed-forward with GELU. Each stage after the first starts with a strided depthwise
downsample. The detector downsamples both axes; the recognizer only the height, to keep
horizontal resolution for the character sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ocr_tasks.engine.models.layers import ConvAct, ConvBNAct, SqueezeExcite

BLOCK_SE_SLOPE = 1.0 / 6.0
SE_REDUCTION = 4


def pad_bottom_right(x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Paddle's "SAME" padding for a 2x2 window at stride 1: one row/column after the end.

    The exported graph keeps this asymmetric padding (``auto_pad=SAME_UPPER``); PyTorch's
    symmetric ``padding=`` cannot express it.
    """
    return F.pad(x, (0, 1, 0, 1), value=value)


class Stem(nn.Module):
    """Strided conv, then a max-pool branch beside two 2x2 convs, concatenated, then a
    strided conv and a pointwise conv: output stride 4."""

    def __init__(self, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.stem1 = ConvAct(3, mid_channels, 3, stride=2, act=nn.ReLU())
        self.stem2a = ConvAct(mid_channels, mid_channels // 2, 2, act=nn.ReLU(), padding=0)
        self.stem2b = ConvAct(mid_channels // 2, mid_channels, 2, act=nn.ReLU(), padding=0)
        self.stem3 = ConvAct(2 * mid_channels, mid_channels, 3, stride=2, act=nn.ReLU())
        self.stem4 = ConvAct(mid_channels, out_channels, 1, act=nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem1(x)
        convolved = self.stem2b(pad_bottom_right(self.stem2a(pad_bottom_right(x))))
        pooled = F.max_pool2d(pad_bottom_right(x, float("-inf")), kernel_size=2, stride=1)
        x = self.stem3(torch.cat([pooled, convolved], dim=1))
        return self.stem4(x)


class PlainStem(nn.Module):
    """Two strided 3x3 convolutions with their BatchNorm kept, GELU between: output stride 4.

    The tiny recognizer's stem (its export did not fold these BatchNorms)."""

    def __init__(self, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.stem1 = ConvBNAct(3, mid_channels, 3, stride=2, act=nn.GELU())
        self.stem2 = ConvBNAct(mid_channels, out_channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem2(self.stem1(x))


class FeedForward(nn.Module):
    """Pointwise expand, GELU, pointwise project."""

    def __init__(self, channels: int, hidden: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.expand = ConvAct(channels, hidden, 1, act=nn.GELU())
        self.project = ConvAct(hidden, out_channels or channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.expand(x))


class MixerBlock(nn.Module):
    """Re-parameterized depthwise token mixer, optional squeeze-excite, residual FFN."""

    def __init__(self, channels: int, use_se: bool) -> None:
        super().__init__()
        self.token_mixer = ConvAct(channels, channels, 3, groups=channels)
        self.se = (
            SqueezeExcite(channels, channels // SE_REDUCTION, BLOCK_SE_SLOPE)
            if use_se
            else nn.Identity()
        )
        self.ffn = FeedForward(channels, 2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.ffn(x)


class Downsample(nn.Module):
    """Strided depthwise 3x3, then a non-residual pointwise FFN that widens the channels
    (through ``hidden`` channels, by default ``out_channels``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: tuple[int, int],
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.spatial = ConvAct(in_channels, in_channels, 3, stride=stride, groups=in_channels)
        self.channel = FeedForward(in_channels, hidden or out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel(self.spatial(x))


@dataclass(frozen=True)
class StageSpec:
    """One backbone stage: its width, the stride of its downsample (None: no downsample),
    per mixer block whether it has a squeeze-excite, and the downsample FFN's hidden width
    (None: the stage's width)."""

    channels: int
    stride: tuple[int, int] | None
    se: tuple[bool, ...]
    hidden: int | None = None


class Backbone(nn.Module):
    """Stem plus stages; returns every stage's output (the detector neck needs them all)."""

    def __init__(
        self,
        stem_mid: int,
        stem_out: int,
        stages: tuple[StageSpec, ...],
        plain_stem: bool = False,
    ) -> None:
        super().__init__()
        self.stem: nn.Module = (
            PlainStem(stem_mid, stem_out) if plain_stem else Stem(stem_mid, stem_out)
        )
        self.stages = nn.ModuleList()
        channels = stem_out
        for spec in stages:
            layers: list[nn.Module] = []
            if spec.stride is not None:
                layers.append(Downsample(channels, spec.channels, spec.stride, spec.hidden))
            elif spec.channels != channels:
                raise ValueError(f"stage of width {spec.channels} needs a downsample")
            layers.extend(MixerBlock(spec.channels, use_se) for use_se in spec.se)
            self.stages.append(nn.Sequential(*layers))
            channels = spec.channels
        self.out_channels = tuple(spec.channels for spec in stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
