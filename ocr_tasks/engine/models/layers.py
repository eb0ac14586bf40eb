"""Building blocks shared by the detector, the recognizer and the direction classifier.

The detector and the recognizer backbone were exported with BatchNorm folded into the
convolution biases, so they use :class:`ConvAct` (convolution with bias). The recognizer neck and
the direction classifier kept their BatchNorm layers, so they use :class:`ConvBNAct`.
"""

from __future__ import annotations

import torch
from torch import nn


def same_padding(kernel: int | tuple[int, int]) -> int | tuple[int, int]:
    """Symmetric padding that keeps the spatial size of an odd kernel at stride 1."""
    if isinstance(kernel, int):
        return kernel // 2
    return (kernel[0] // 2, kernel[1] // 2)


class HardSigmoid(nn.Module):
    """``clamp(slope * x + 0.5, 0, 1)``.

    The PaddleOCR models use two slopes: 1/6 (the PyTorch definition) in the backbone's
    squeeze-excite gates and 0.2 in the detector neck and the direction classifier. They are
    not interchangeable, so the slope is explicit.
    """

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * self.slope + 0.5, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"slope={self.slope:.4f}"


class ConvAct(nn.Module):
    """Convolution with bias (BatchNorm folded in), then an optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        groups: int = 1,
        act: nn.Module | None = None,
        padding: int | tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=same_padding(kernel) if padding is None else padding,
            groups=groups,
        )
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ConvBNAct(nn.Module):
    """Bias-free convolution, BatchNorm, then an optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        groups: int = 1,
        act: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=same_padding(kernel),
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Channel attention: global mean, bottleneck, gate, rescale.

    With ``residual`` the gated features are added to the input (the "RSE" layer of the
    detector neck) instead of replacing it.
    """

    def __init__(
        self, channels: int, reduced: int, gate_slope: float, residual: bool = False
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = HardSigmoid(gate_slope)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))
        scaled = x * weights
        return x + scaled if self.residual else scaled
