"""PP-OCRv6 text-line recognizers: backbone, sequence neck, CTC head, in two sizes.

"small" (5.3M parameters): a two-branch stem, stages of 96/192/384 channels, an SVTR-style
neck with two transformer blocks. "tiny" (1.1M): a plain stem, stages of 48/96/160, a
convolutional neck and a two-layer head; it reads a line several times faster. Input:
Bx3x48xW, BGR scaled to [-1, 1]. Output: BxTxC softmax probabilities with T = W // 8 time
steps and C = len(charset) classes (class 0 is the CTC blank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ocr_tasks.engine.models.backbone import Backbone, StageSpec
from ocr_tasks.engine.models.catalog import DEFAULT_REC_SIZE, check_rec_size
from ocr_tasks.engine.models.layers import ConvBNAct

INPUT_HEIGHT = 48
ENCODER_DEPTH = 2
ENCODER_HEADS = 8


@dataclass(frozen=True)
class RecognizerSpec:
    """One size of the recognizer: its backbone, and the width of its neck's output (the
    SVTR encoder for small, the convolutional neck for tiny) and head."""

    stem_mid: int
    stem_out: int
    plain_stem: bool
    stages: tuple[StageSpec, ...]
    neck: str  # "svtr" or "conv"
    neck_dim: int
    head_mid: int | None  # a bias-only linear layer before the class layer (tiny)


SIZES: dict[str, RecognizerSpec] = {
    "small": RecognizerSpec(
        stem_mid=48,
        stem_out=96,
        plain_stem=False,
        stages=(
            StageSpec(96, None, (True, False, False)),
            StageSpec(192, (2, 1), (True, False, True, False, True, False)),
            StageSpec(384, (2, 1), (True, False)),
        ),
        neck="svtr",
        neck_dim=120,
        head_mid=None,
    ),
    "tiny": RecognizerSpec(
        stem_mid=24,
        stem_out=48,
        plain_stem=True,
        stages=(
            StageSpec(48, None, (True, False)),
            StageSpec(96, (2, 1), (True, False)),
            StageSpec(160, (2, 1), (True, False, False), hidden=192),
        ),
        neck="conv",
        neck_dim=160,
        head_mid=80,
    ),
}


def check_size(size: str) -> RecognizerSpec:
    check_rec_size(size)
    return SIZES[size]


class Attention(nn.Module):
    """Multi-head self-attention over the time steps."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, dim = x.shape
        qkv = self.qkv(x).reshape(batch, steps, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, steps, dim))


class TransformerBlock(nn.Module):
    """Pre-norm attention and SiLU MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.SiLU(), nn.Linear(mlp_ratio * dim, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SequenceEncoder(nn.Module):
    """Turns the 1-row feature map into per-time-step features.

    A pointwise shortcut branch, and a main branch of pointwise projection, residual 1x7
    depthwise local mixing and global transformer blocks; the two are summed.
    """

    def __init__(self, in_channels: int, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.shortcut = ConvBNAct(in_channels, dim, 1, act=nn.SiLU())
        self.project = ConvBNAct(in_channels, dim, 1, act=nn.SiLU())
        self.local_mixer = ConvBNAct(dim, dim, (1, 7), groups=dim, act=nn.SiLU())
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x).flatten(2).transpose(1, 2)
        x = self.project(x)
        x = x + self.local_mixer(x)
        tokens = x.flatten(2).transpose(1, 2)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens) + shortcut


class ConvNeck(nn.Module):
    """The tiny recognizer's neck: a 1x5 depthwise and a pointwise convolution along the
    1-row feature map, each with BatchNorm and hard-swish."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.local = ConvBNAct(channels, channels, (1, 5), groups=channels, act=nn.Hardswish())
        self.pointwise = ConvBNAct(channels, channels, 1, act=nn.Hardswish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.local(x)).flatten(2).transpose(1, 2)


class CTCHead(nn.Module):
    """Per-time-step class probabilities, optionally through a narrower linear layer first."""

    def __init__(self, in_channels: int, num_classes: int, mid: int | None = None) -> None:
        super().__init__()
        self.mid: nn.Module = nn.Linear(in_channels, mid) if mid else nn.Identity()
        self.fc = nn.Linear(mid or in_channels, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.mid(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=-1)

    def restrict_classes(self, indices: Sequence[int]) -> None:
        """Keep only the output classes ``indices``, in that order.

        The rows of the final layer are sliced, so the softmax renormalizes over the kept
        classes and the layer costs ``len(indices) / num_classes`` of the full one.
        """
        weight = self.fc.weight
        index = torch.as_tensor(indices, dtype=torch.long, device=weight.device)
        fc = nn.Linear(self.fc.in_features, len(index), device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            fc.weight.copy_(weight[index])
            fc.bias.copy_(self.fc.bias[index])
        self.fc = fc


class TextRecognizer(nn.Module):
    """Backbone, 3x2 average pool to one row, sequence neck, CTC head."""

    def __init__(self, num_classes: int, size: str = DEFAULT_REC_SIZE) -> None:
        super().__init__()
        spec = check_size(size)
        self.size = size
        self.backbone = Backbone(spec.stem_mid, spec.stem_out, spec.stages, spec.plain_stem)
        self.pool = nn.AvgPool2d(kernel_size=(3, 2), stride=(3, 2))
        width = self.backbone.out_channels[-1]
        self.neck: nn.Module = (
            SequenceEncoder(width, spec.neck_dim, ENCODER_DEPTH, ENCODER_HEADS)
            if spec.neck == "svtr"
            else ConvNeck(width)
        )
        self.head = CTCHead(spec.neck_dim, num_classes, spec.head_mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and x.shape[-2] != INPUT_HEIGHT:
            raise ValueError(
                f"recognizer input height must be {INPUT_HEIGHT}, got {x.shape[-2]}"
            )
        return torch.softmax(self.logits(x), dim=-1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """BxTxC class scores before the softmax (what CTC training needs)."""
        return self.head.logits(self.neck(self.pool(self.backbone(x)[-1])))

    def restrict_classes(self, indices: Sequence[int]) -> None:
        """Read only the classes ``indices`` (see :meth:`CTCHead.restrict_classes`)."""
        self.head.restrict_classes(indices)
